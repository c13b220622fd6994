// Browser-test setup: a fresh data directory and SQLite database, the repository's profiles plus
// test profiles on real OpenSSH build VMs (loopback: 127.0.0.1:12222 and 127.0.0.2:2222 when free),
// the built app on a free loopback port, and a first (admin) account whose session later specs reuse.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { stringify } from "yaml";

import { REPO_ROOT, signUp, startAppServer } from "../tests/support/app-server";
import { freeLoopbackPort, hostFieldsFor, runAs, startBuildVms, stopBuildVms } from "../tests/support/build-vms";

async function portFree(host: string, port: number): Promise<boolean> {
  const net = await import("node:net");
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

export const ADMIN_EMAIL = "admin@e2e.test";
export const PASSWORD = "correct-horse-battery";

export default async function globalSetup(): Promise<() => Promise<void>> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "sandboxer-e2e-"));
  const dataDir = path.join(root, "data");
  const configDir = path.join(root, "config");
  fs.mkdirSync(dataDir, { recursive: true });
  fs.cpSync(path.join(REPO_ROOT, "extensions"), path.join(configDir, "extensions"), { recursive: true });
  fs.cpSync(path.join(REPO_ROOT, "profiles"), path.join(configDir, "profiles"), { recursive: true });
  // Two build VMs, and a project repository on them that the test profile clones at a chosen ref.
  const wanted = [
    { name: "e2e1", address: "127.0.0.1", port: 12222 },
    { name: "e2e2", address: "127.0.0.2", port: 2222 },
  ];
  const specs = [];
  for (const w of wanted) specs.push((await portFree(w.address, w.port)) ? w : { name: w.name, address: w.address });
  const vms = await startBuildVms({ vms: specs });
  const repos = path.join(vms.stateDir, "repos");
  await runAs("root", ["install", "-d", "-m", "0755", "-o", vms.user, "-g", vms.user, repos]);
  const work = path.join(repos, "work");
  const bare = path.join(repos, "haskell-app.git");
  const git = ["git", "-c", "user.email=e2e@example.test", "-c", "user.name=e2e"];
  for (const argv of [
    ["git", "init", "-q", "-b", "main", work],
    [
      "sh",
      "-c",
      'printf "main :: IO ()\\nmain = putStrLn \\"hello\\"\\n" > "$1/Main.hs" && printf "cabal-version: 3.0\\nname: app\\n" > "$1/app.cabal"',
      "sh",
      work,
    ],
    [...git, "-C", work, "add", "."],
    [...git, "-C", work, "commit", "-q", "-m", "init"],
    ["git", "-C", work, "branch", "release-1"],
    ["git", "clone", "-q", "--bare", work, bare],
  ]) {
    const r = await runAs(vms.user, argv);
    if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
  }
  const deadPort = await freeLoopbackPort();
  const host = (name: string, extra: Record<string, unknown> = {}) =>
    hostFieldsFor(vms.vm(name), { id: `vm-${name}`, title: `Haskell build VM ${name}`, labels: ["e2e"], capacity: 20, ...extra });
  fs.writeFileSync(
    path.join(configDir, "hosts.yaml"),
    stringify({
      apiVersion: "sandboxer.dev/v1",
      hosts: [
        host("e2e1", { tunnelPort: vms.vm("e2e1").port }),
        host("e2e2"),
        { ...host("e2e1"), id: "vm-dead", title: "Switched-off VM", port: deadPort, labels: ["dead"] },
      ],
    }),
  );
  const profile = (name: string, body: Record<string, unknown>) =>
    fs.writeFileSync(
      path.join(configDir, "profiles", `${name}.yaml`),
      stringify({ apiVersion: "sandboxer.dev/v1", id: `profile.${name}`, ttl: "8h", ...body }),
    );
  profile("e2e-haskell", {
    title: "Haskell build VM (test)",
    description: "A /build/sbx-<id> workspace on a test build VM, with the project cloned at your ref.",
    extension: "ext.vm-packer",
    params: { hostLabel: "e2e", repository: { git: `file://${bare}`, ref: "main" } },
    inputs: {
      ref: {
        title: "Git ref",
        description: "Branch or tag to clone",
        param: "repository.ref",
        default: "main",
        pattern: "[A-Za-z0-9][A-Za-z0-9._/-]{0,99}",
      },
    },
    runbook: "docs/runbooks/vm-haskell-build.md",
    tags: ["haskell", "e2e"],
  });
  profile("e2e-unreachable", {
    title: "Switched-off VM (test)",
    description: "Targets a VM whose SSH port has nothing listening.",
    extension: "ext.vm-packer",
    params: { host: "vm-dead" },
    tags: ["e2e"],
  });
  // A profile with a typo: listed with its errors, never creatable.
  fs.writeFileSync(
    path.join(configDir, "profiles", "broken.yaml"),
    "apiVersion: sandboxer.dev/v1\nid: profile.broken\ntitle: Broken profile (test)\nextension: ext.vm-packer\nparams:\n  hostLabel: e2e\n  workspaceRoots: /build\nttl: 8h\n",
  );
  process.env.E2E_VM_ROOTS = JSON.stringify(vms.vms.map((vm) => vm.workspaceRoot));
  // For adding a host from the dashboard (tests/e2e hosts.spec.ts): the second VM as an admin would type it.
  const vm2 = vms.vm("e2e2");
  process.env.E2E_VM2 = JSON.stringify({
    host: vm2.host,
    port: vm2.port,
    user: vm2.user,
    root: vm2.workspaceRoot,
    key: vm2.hostKeyFingerprint,
  });
  // Another VM's address, port and key, for moving a dashboard host there (its key must be confirmed again).
  const vm1 = vms.vm("e2e1");
  process.env.E2E_VM1 = JSON.stringify({ host: vm1.host, port: vm1.port, key: vm1.hostKeyFingerprint });
  // An image whose build prints a line a second for a few seconds (null builder, no communicator): its log streams live.
  fs.mkdirSync(path.join(configDir, "images"), { recursive: true });
  fs.writeFileSync(
    path.join(configDir, "images", "e2e-demo.yaml"),
    "apiVersion: sandboxer.dev/v1\nname: e2e-demo\ntitle: E2E demo image\ntimeout: 2m\n",
  );
  fs.writeFileSync(
    path.join(configDir, "images", "e2e-demo.pkr.hcl"),
    ["image_name", "image_version", "marker_path"].map((v) => `variable "${v}" { type = string }\n`).join("") +
      'source "null" "local" { communicator = "none" }\n' +
      'build {\n  sources = ["source.null.local"]\n  provisioner "shell-local" { inline = ["for i in 1 2 3 4 5 6; do echo demo step $i; sleep 1; done"] }\n}\n',
  );

  const databaseUrl = `file:${path.join(dataDir, "e2e.db")}`;
  execFileSync(process.execPath, ["--conditions=react-server", "--import", "tsx", "scripts/db-migrate.ts", "deploy"], {
    cwd: REPO_ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl, SANDBOXER_DATA_DIR: dataDir },
    stdio: "pipe",
  });
  const server = await startAppServer({
    env: {
      DATABASE_URL: databaseUrl,
      SANDBOXER_DATA_DIR: dataDir,
      SANDBOXER_CONFIG_DIR: configDir,
      SANDBOXER_LOCAL_WORKSPACE_ROOT: path.join(root, "workspaces"),
      SANDBOXER_SSH_IDENTITY: vms.identityFile,
      SANDBOXER_SSH_CONNECT_TIMEOUT: "3s",
      SANDBOXER_HEALTH_INTERVAL: "1h",
      // A create for a host known to be down waits this long (saying why), then fails.
      SANDBOXER_QUEUE_TIMEOUT: "4s",
    },
  });
  const cookie = await signUp(server.url, ADMIN_EMAIL, PASSWORD, "E2E Admin");
  const storage = path.join(root, "admin-state.json");
  fs.writeFileSync(
    storage,
    JSON.stringify({
      cookies: cookie.split("; ").map((c) => {
        const i = c.indexOf("=");
        return {
          name: c.slice(0, i),
          value: c.slice(i + 1),
          domain: "127.0.0.1",
          path: "/",
          expires: -1,
          httpOnly: true,
          secure: false,
          sameSite: "Lax",
        };
      }),
      origins: [],
    }),
  );
  process.env.E2E_BASE_URL = server.url;
  process.env.E2E_ROOT = root;
  process.env.E2E_ADMIN_STATE = storage;
  process.env.E2E_DATABASE_URL = databaseUrl;
  return async () => {
    await server.stop();
    await stopBuildVms(vms);
    if (process.env.E2E_KEEP !== "1") fs.rmSync(root, { recursive: true, force: true });
  };
}
