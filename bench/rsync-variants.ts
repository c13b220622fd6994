// node --conditions=react-server --import tsx bench/rsync-variants.ts [--rounds N] [--files N]
//
// The create finding of docs/performance.md, reproducible on its own: the same 2,000-file transfer to
// one loopback sshd VM, interleaved round by round, with
//   script            the hand-written script's rsync (bench/baseline/create-workspace.sh)
//   manager-argv      the exact command line lib/ssh/rsync.ts builds (setpriv, -s, --info=progress2,
//                     --stats, its ssh options), spawned in its own process group like the worker does
//   warm-master       the script's rsync over an already-authenticated OpenSSH master connection
//                     (ControlMaster), i.e. without a handshake of its own
// plus the handshake itself (`ssh host true`, fresh vs over the master). Prints medians; changes nothing.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";

import { runAs, startBuildVms, stopBuildVms } from "../tests/support/build-vms";
import { installCleanupHandlers, onCleanup, runCleanup, trackDir } from "./lib/cleanup";
import { generateRepo } from "./lib/repo";
import { summarize } from "./lib/stats";

function run(argv: string[], detached = false): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const env: NodeJS.ProcessEnv = {
      NODE_ENV: "production",
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/root",
      LC_ALL: "C",
    };
    const child = spawn(argv[0]!, argv.slice(1), { env, detached, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stdout.resume();
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${argv[0]} exited ${code}: ${stderr.trim()}`)),
    );
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: "string", default: "10" }, files: { type: "string", default: "2000" } } });
  const rounds = Number(values.rounds);
  installCleanupHandlers();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sandboxer-bench-rsync-"));
  fs.chmodSync(tmp, 0o700);
  trackDir(tmp);
  onCleanup("remove temp dir", () => fs.rmSync(tmp, { recursive: true, force: true }));
  const repo = generateRepo(path.join(tmp, "repo"), Number(values.files));
  const vms = await startBuildVms({ vms: [{ name: "rsyncab", address: "127.0.0.1" }] });
  onCleanup("stop build VM", () => stopBuildVms(vms));
  const vm = vms.vms[0]!;
  const target = `${vm.user}@${vm.host}`;

  const base = [
    "-F",
    "/dev/null",
    "-p",
    String(vm.port),
    "-i",
    vms.identityFile,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    `UserKnownHostsFile=${vms.knownHostsPath}`,
    "-o",
    "GlobalKnownHostsFile=/dev/null",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=15",
  ];
  const scriptSsh = ["ssh", ...base, "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "LogLevel=ERROR"];
  // As lib/ssh/rsync.ts builds it (the temp known_hosts aside).
  const managerSsh = [
    "ssh",
    ...base,
    "-o",
    "CheckHostIP=no",
    "-o",
    "UpdateHostKeys=no",
    "-o",
    "HostKeyAlgorithms=ssh-ed25519",
    "-o",
    "ServerAliveInterval=15",
    "-o",
    "ServerAliveCountMax=3",
    "-o",
    "PasswordAuthentication=no",
    "-o",
    "KbdInteractiveAuthentication=no",
    "-o",
    "ControlMaster=no",
    "-o",
    "ControlPath=none",
    "-o",
    "ForwardAgent=no",
    "-o",
    "ForwardX11=no",
    "-o",
    "ClearAllForwardings=yes",
    "-o",
    "LogLevel=VERBOSE",
  ];
  const sock = path.join(tmp, "master.sock");
  await run([
    "ssh",
    ...base,
    "-o",
    "ControlMaster=yes",
    "-o",
    `ControlPath=${sock}`,
    "-o",
    "ControlPersist=300",
    "-o",
    "LogLevel=ERROR",
    "-N",
    "-f",
    target,
  ]);
  onCleanup("stop the OpenSSH master", async () => {
    await run(["ssh", "-o", `ControlPath=${sock}`, "-O", "exit", target]).catch(() => undefined);
  });
  const masterSsh = ["ssh", ...base, "-o", "ControlMaster=no", "-o", `ControlPath=${sock}`, "-o", "LogLevel=ERROR"];
  const filters = ["--filter=:- .gitignore", "--exclude=.git"];
  const setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => fs.existsSync(p));

  const variants: Record<string, { argv: (dest: string) => string[]; detached?: boolean; needsDir: boolean }> = {
    script: {
      argv: (d) => ["rsync", "-az", ...filters, "-e", scriptSsh.join(" "), "--", `${repo.dir}/`, `${target}:${d}/`],
      needsDir: true,
    },
    "manager-argv": {
      argv: (d) => [
        ...(setpriv ? [setpriv, "--pdeathsig", "KILL", "--"] : []),
        "rsync",
        "-az",
        "-s",
        "--no-human-readable",
        "--info=progress2",
        "--stats",
        "-e",
        managerSsh.join(" "),
        ...filters,
        "--",
        `${repo.dir}/`,
        `${target}:${d}`,
      ],
      detached: true,
      needsDir: true,
    },
    "warm-master": {
      argv: (d) => ["rsync", "-az", ...filters, "-e", masterSsh.join(" "), "--", `${repo.dir}/`, `${target}:${d}/`],
      needsDir: true,
    },
    "ssh true (fresh handshake)": { argv: () => [...scriptSsh, target, "true"], needsDir: false },
    "ssh true (over the master)": { argv: () => [...masterSsh, target, "true"], needsDir: false },
  };
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (let r = 0; r < rounds; r++) {
    for (const [name, v] of Object.entries(variants)) {
      const dest = path.join(vm.workspaceRoot, `sbx-variant${r}${Object.keys(variants).indexOf(name)}`);
      if (v.needsDir) await runAs(vm.user, ["mkdir", dest]);
      times[name]!.push(await run(v.argv(dest), v.detached));
      if (v.needsDir) await runAs(vm.user, ["rm", "-rf", dest]);
    }
  }
  console.log(
    `${repo.files} files, ${(repo.bytes / 2 ** 20).toFixed(1)} MiB, ${rounds} interleaved rounds; load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  for (const [name, list] of Object.entries(times)) {
    const s = summarize(list);
    console.log(
      `${name.padEnd(28)} median ${String(Math.round(s.median)).padStart(5)} ms   p95 ${String(Math.round(s.p95)).padStart(5)} ms`,
    );
  }
}

main().then(
  async () => {
    await runCleanup();
    process.exit(0);
  },
  async (e: unknown) => {
    console.error(`rsync-variants failed: ${(e as Error).stack ?? String(e)}`);
    await runCleanup();
    process.exit(1);
  },
);
