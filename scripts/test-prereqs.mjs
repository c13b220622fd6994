// `npm test` runs this first: the suite needs real OpenSSH, rsync, git, Chromium and PostgreSQL on
// 127.0.0.1:5432. Missing Debian packages are installed when running as root (as on a fresh machine
// of this kind); otherwise the message says what to install. PostgreSQL is started if it is installed
// but stopped.
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";

const here = new URL(".", import.meta.url).pathname;
const r = spawnSync("bash", [`${here}install-test-packages.sh`], { stdio: "inherit" });
if (r.status !== 0) process.exit(r.status ?? 1);

function pgUp() {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port: 5432 });
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });
}

if (!process.env.SANDBOXER_TEST_POSTGRES_URL && !(await pgUp())) {
  const clusters = fs.existsSync("/etc/postgresql") ? fs.readdirSync("/etc/postgresql") : [];
  if (clusters.length && process.getuid?.() === 0) {
    console.log(`starting PostgreSQL ${clusters[0]} (it was not running)`);
    execFileSync("pg_ctlcluster", ["--skip-systemctl-redirect", clusters[0], "main", "start"], { stdio: "inherit" });
  }
  if (!(await pgUp())) {
    console.error(
      "PostgreSQL is not reachable on 127.0.0.1:5432; the suite runs every data test on it too. Start it, or set SANDBOXER_TEST_POSTGRES_URL to a local server.",
    );
    process.exit(1);
  }
}
console.log("test prerequisites: ok");
