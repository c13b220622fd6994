// The SSH gateway against direct OpenSSH to the same VM, side by side in one run (the gateway inside
// the benchmarked app server, the VM leg pooled): `ssh … true`, bytes through `cat`, rsync of the
// generated tree, interactive echo round trips under a pty, and concurrent sessions. Real OpenSSH
// clients on loopback only.
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";

import type { Db } from "@/lib/db/client";
import { createLogger } from "@/lib/logger";
import { addSshKey } from "@/lib/manager/ssh-keys";

import type { BuildVms } from "../tests/support/build-vms";
import { median, round } from "./lib/stats";

export interface GatewayBench {
  /** Median `ssh … true` through the gateway / direct. */
  execRatio: number;
  execMs: { gateway: number; direct: number };
  /** Gateway MB/s ÷ direct MB/s for `cat` of `throughputMb` random bytes. */
  throughputRatio: number;
  throughputMbPerS: { gateway: number; direct: number };
  throughputMb: number;
  /** The server's RSS before the cat runs and its peak during them (sampled every 50 ms). */
  throughputServerRssMb: { before: number | null; peak: number | null };
  /** Median rsync of the tree through the gateway / direct. */
  rsyncRatio: number;
  rsyncMs: { gateway: number; direct: number };
  rsyncFiles: number;
  /** Median single-key echo under a pty, gateway minus direct. */
  echoAddedMs: number;
  echoMs: { gateway: number; direct: number };
  concurrent: { sessions: number; failures: number; wallMs: number; serverRssMb: number | null };
}

const PTY = path.resolve(import.meta.dirname, "../tests/support/pty-session.py");

function exec(
  argv: string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      argv[0]!,
      argv.slice(1),
      { timeout: opts.timeoutMs ?? 120_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === "number" ? err.code : null) : 0, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    child.stdin?.end(opts.input ?? "");
  });
}

function catThrough(argv: string[], file: string): Promise<{ ms: number; ok: boolean }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(argv[0]!, argv.slice(1), { stdio: [fs.openSync(file, "r"), "pipe", "ignore"] });
    let bytes = 0;
    child.stdout?.on("data", (d: Buffer) => (bytes += d.length));
    child.on("close", (code) => resolve({ ms: performance.now() - t0, ok: code === 0 && bytes === fs.statSync(file).size }));
  });
}

function serverRssMb(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

export async function measureGateway(opts: {
  serverUrl: string;
  cookie: string;
  serverPid: number | undefined;
  db: Db;
  vms: BuildVms;
  sandboxId: string;
  tree: string;
  tmp: string;
  quick: boolean;
  log: (line: string) => void;
}): Promise<GatewayBench> {
  const { db, sandboxId, vms } = opts;
  const sandbox = await db.sandbox.findUniqueOrThrow({ where: { id: sandboxId }, include: { owner: true } });
  const handle = sandbox.handle as { vm_target: string; ssh_port: number; ssh_user: string; workspace_path: string };
  // The sandbox owner's gateway key: the VMs' client key (the direct leg uses it too).
  await addSshKey(
    { db, logger: createLogger("silent") },
    { kind: "user", userId: sandbox.ownerId, label: sandbox.owner.email, role: "admin" },
    { publicKey: fs.readFileSync(`${vms.identityFile}.pub`, "utf8") },
  ).catch(() => {}); // already registered by an earlier run on this database
  const res = await fetch(`${opts.serverUrl}/api/v1/ssh-gateway`, { headers: { cookie: opts.cookie, accept: "application/json" } });
  if (!res.ok) throw new Error(`GET /api/v1/ssh-gateway: HTTP ${res.status}`);
  const gw = (await res.json()) as { host: string; port: number; knownHostsLine: string };
  const dir = fs.mkdtempSync(path.join(opts.tmp, "gateway-bench-"));
  const gwKnownHosts = path.join(dir, "known_hosts");
  fs.writeFileSync(gwKnownHosts, `${gw.knownHostsLine}\n`);
  const common = [
    "-F",
    "none",
    "-i",
    vms.identityFile,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=yes",
  ];
  const viaGateway = [...common, "-o", `UserKnownHostsFile=${gwKnownHosts}`, "-p", String(gw.port), `${sandboxId}@${gw.host}`];
  const direct = [
    ...common,
    "-o",
    `UserKnownHostsFile=${vms.knownHostsPath}`,
    "-p",
    String(handle.ssh_port),
    `${handle.ssh_user}@${handle.vm_target}`,
  ];
  const inWs = (cmd: string) => `cd '${handle.workspace_path}' && ${cmd}`;

  // 1. ssh … true, alternating.
  const runs = opts.quick ? 5 : 15;
  const execG: number[] = [];
  const execD: number[] = [];
  for (let i = 0; i < runs + 1; i++) {
    for (const [argv, into] of [
      [[...viaGateway, "true"], execG],
      [[...direct, inWs("true")], execD],
    ] as const) {
      const t0 = performance.now();
      const r = await exec(["ssh", ...argv]);
      if (r.code !== 0) throw new Error(`ssh true failed: ${r.stderr}`);
      if (i > 0) into.push(performance.now() - t0); // the first pair warms the pool and the caches
    }
  }
  const execMs = { gateway: round(median(execG)), direct: round(median(execD)) };
  opts.log(`gateway: ssh true median ${execMs.gateway} ms vs direct ${execMs.direct} ms`);

  // 2. Throughput through cat.
  const mb = opts.quick ? 20 : 100;
  const file = path.join(dir, "random.bin");
  fs.writeFileSync(file, randomBytes(mb * 1024 * 1024));
  const tG: number[] = [];
  const tD: number[] = [];
  const rssBefore = serverRssMb(opts.serverPid);
  const throughputServerRssMb = { before: rssBefore, peak: rssBefore };
  const sampler = setInterval(() => {
    const rss = serverRssMb(opts.serverPid);
    if (rss !== null) throughputServerRssMb.peak = Math.max(throughputServerRssMb.peak ?? 0, rss);
  }, 50);
  for (let i = 0; i < (opts.quick ? 1 : 3); i++) {
    const g = await catThrough(["ssh", ...viaGateway, "cat"], file);
    const d = await catThrough(["ssh", ...direct, "cat"], file);
    if (!g.ok || !d.ok) throw new Error("cat through ssh lost bytes");
    tG.push(g.ms);
    tD.push(d.ms);
  }
  clearInterval(sampler);
  fs.rmSync(file);
  const throughputMbPerS = { gateway: round(mb / (median(tG) / 1000), 1), direct: round(mb / (median(tD) / 1000), 1) };
  opts.log(
    `gateway: ${mb} MB through cat ${throughputMbPerS.gateway} MB/s vs direct ${throughputMbPerS.direct} MB/s; ` +
      `server RSS ${throughputServerRssMb.before} MB before, ${throughputServerRssMb.peak} MB at most during`,
  );

  // 3. rsync of the tree into fresh directories.
  const rG: number[] = [];
  const rD: number[] = [];
  const eG = ["ssh", ...viaGateway.slice(0, -1)].join(" ");
  const eD = ["ssh", ...direct.slice(0, -1)].join(" ");
  for (let i = 0; i < (opts.quick ? 1 : 3); i++) {
    let t0 = performance.now();
    let r = await exec(["rsync", "-a", "-e", eG, `${opts.tree}/`, `${sandboxId}@${gw.host}:bench-g${i}/`]);
    if (r.code !== 0) throw new Error(`rsync via gateway: ${r.stderr}`);
    rG.push(performance.now() - t0);
    t0 = performance.now();
    r = await exec([
      "rsync",
      "-a",
      "-e",
      eD,
      `${opts.tree}/`,
      `${handle.ssh_user}@${handle.vm_target}:${handle.workspace_path}/bench-d${i}/`,
    ]);
    if (r.code !== 0) throw new Error(`rsync direct: ${r.stderr}`);
    rD.push(performance.now() - t0);
  }
  let files = 0;
  for (const d of fs.readdirSync(opts.tree, { withFileTypes: true, recursive: true })) if (d.isFile()) files++;
  const rsyncMs = { gateway: round(median(rG)), direct: round(median(rD)) };
  opts.log(`gateway: rsync of ${files} files ${rsyncMs.gateway} ms vs direct ${rsyncMs.direct} ms`);

  // 4. Echo under a pty.
  const echo = async (argv: string[]) => {
    const script = [{ expect: "\\$ |# " }, { echo: opts.quick ? 10 : 40 }, { send: "exit\n" }].map((s) => JSON.stringify(s)).join("\n");
    const r = await exec(["python3", PTY, "24", "80", "ssh", "-tt", ...argv], { input: script, timeoutMs: 60_000 });
    const out = JSON.parse(r.stdout) as { echoMedianMs?: number; fail?: string };
    if (out.fail || out.echoMedianMs === undefined) throw new Error(`echo run failed: ${out.fail ?? r.stderr}`);
    return out.echoMedianMs;
  };
  const echoMs = { gateway: round(await echo(viaGateway), 2), direct: round(await echo(direct), 2) };
  opts.log(`gateway: echo ${echoMs.gateway} ms vs direct ${echoMs.direct} ms`);

  // 5. Concurrent sessions.
  const sessions = 50;
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: sessions }, (_, i) => exec(["ssh", ...viaGateway, `echo n${i}`])));
  const wallMs = round(performance.now() - t0);
  const failed = results.filter((r, i) => r.code !== 0 || r.stdout !== `n${i}\n`);
  const failures = failed.length;
  for (const r of failed.slice(0, 3)) opts.log(`gateway: a concurrent session failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`);
  const concurrent = { sessions, failures, wallMs, serverRssMb: serverRssMb(opts.serverPid) };
  opts.log(`gateway: ${sessions} concurrent sessions in ${wallMs} ms, ${failures} failure(s), server RSS ${concurrent.serverRssMb} MB`);
  fs.rmSync(dir, { recursive: true, force: true });

  return {
    execRatio: round(execMs.gateway / execMs.direct, 2),
    execMs,
    throughputRatio: round(throughputMbPerS.gateway / throughputMbPerS.direct, 2),
    throughputMbPerS,
    throughputMb: mb,
    throughputServerRssMb,
    rsyncRatio: round(rsyncMs.gateway / rsyncMs.direct, 2),
    rsyncMs,
    rsyncFiles: files,
    echoAddedMs: round(echoMs.gateway - echoMs.direct, 2),
    echoMs,
    concurrent,
  };
}
