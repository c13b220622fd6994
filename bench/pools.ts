// The warm-pool part of the bench (issue 17), side by side with the hand-written scripts, at loopback
// and at 20 ms round-trip time through bench/relay.ts (the kernel has no netem):
//   - create from a warm pool: POST → `ready` (the response itself) vs `ssh mkdir` + `rsync -az`
//   - `sandboxer run -- true` with a pool hit, the working tree differing from the pool in 10 files, vs
//     the script into a fresh directory (mkdir + rsync + ssh true + rm) and the script reusing one
//     directory (rsync + ssh true: no isolation, the fastest possible)
//   - 50 creates at once from a pool of ≥ 50, and 50 creates at once without a pool vs the script run
//     50 times with `xargs -P 8`
//   - the pool hit rate, and a person's (no-pool) create latency while refills run vs when idle
//   - a create for another git ref than a git pool's: a member moved to the ref on its VM (POST →
//     ready) vs the same create without a pool (a fresh `git clone --depth 1` on the VM)
// Its own set-up (VMs, relays, app server, database), so `npm run bench` calls it with one line and
// it also runs alone: node --conditions=react-server --import tsx bench/pools.ts [--quick] [--runs N] [--files N]
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";

import { stringify } from "yaml";

import { createToken } from "@/lib/auth/tokens";
import { createDb, type Db } from "@/lib/db/client";

import { createCliEnv, findAnnouncedId, type CliEnv } from "../tests/support/cli-harness";
import { signUp, startAppServer } from "../tests/support/app-server";
import { stopBuildVms, type BuildVm, type BuildVms } from "../tests/support/build-vms";
import { cpuShares, cpuTicks, loadAverage } from "./lib/machine";
import { startBenchVms, type VmCpu } from "./lib/vms";
import { Api } from "./lib/api";
import { onCleanup, trackDir, trackPid, untrackPid } from "./lib/cleanup";
import { generateRepo } from "./lib/repo";
import { median, ratio, round, summarize } from "./lib/stats";
import type { PoolBenchResults, PoolVariantResults } from "./lib/pools-report";
import { startRelay, type Relay } from "./relay";

const REPO_ROOT = path.resolve(import.meta.dirname, "..");
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface PoolBenchOptions {
  quick: boolean;
  db: "sqlite" | "postgres";
  files: number;
  runs: number;
  concurrent: number;
  rttMs: number;
  vmCpu: VmCpu;
}

interface Host {
  id: string;
  vm: BuildVm;
  /** Where clients connect: the VM itself, or its relay. */
  address: string;
  port: number;
  knownHosts: string;
}

function run(argv: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}) {
  return new Promise<{ ms: number; code: number; stdout: string; stderr: string }>((resolve) => {
    const t0 = performance.now();
    const child = execFile(
      argv[0]!,
      argv.slice(1),
      {
        cwd: opts.cwd,
        env: opts.env ?? { NODE_ENV: "production", PATH: process.env.PATH, HOME: process.env.HOME, LC_ALL: "C" },
        timeout: opts.timeoutMs ?? 300_000,
        maxBuffer: 8 << 20,
        encoding: "utf8",
      },
      (err, stdout: string, stderr: string) => {
        untrackPid(child.pid);
        resolve({
          ms: performance.now() - t0,
          code: err ? (typeof err.code === "number" ? err.code : 1) : 0,
          stdout,
          stderr: stderr.trim(),
        });
      },
    );
    trackPid(child.pid);
  });
}

/** A known_hosts file naming the VM's key at the address clients use (the relay's port for the relayed hosts). */
function knownHostsFor(dir: string, vm: BuildVm, port: number): string {
  const file = path.join(dir, `known_hosts-${vm.name}-${port}`);
  fs.writeFileSync(file, `[${vm.host}]:${port} ${vm.hostPublicKeyLine}\n`);
  return file;
}

function sshOpts(vms: BuildVms, h: Host): string[] {
  return [
    "-F",
    "/dev/null",
    "-p",
    String(h.port),
    "-i",
    vms.identityFile,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    `UserKnownHostsFile=${h.knownHosts}`,
    "-o",
    "GlobalKnownHostsFile=/dev/null",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    "ConnectTimeout=15",
    "-o",
    "ControlMaster=no",
    "-o",
    "ControlPath=none",
    "-o",
    "LogLevel=ERROR",
  ];
}

function scriptArgs(vms: BuildVms, h: Host, workspace: string): string[] {
  return [h.vm.host, String(h.port), h.vm.user, vms.identityFile, h.knownHosts, workspace];
}

export async function measurePools(opts: PoolBenchOptions, log: (msg: string) => void): Promise<PoolBenchResults> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sandboxer-bench-pools-"));
  trackDir(tmp);
  onCleanup("remove pool bench temp dir", () => fs.rmSync(tmp, { recursive: true, force: true }));
  const repo = generateRepo(path.join(tmp, "repo"), opts.files);
  // The working tree `run` syncs: the pool's repository with 10 files changed.
  const worktree = path.join(tmp, "worktree");
  fs.cpSync(repo.dir, worktree, { recursive: true });
  const changed = listFiles(worktree)
    .filter((f) => f.endsWith(".hs"))
    .slice(0, 10);
  for (const f of changed) fs.appendFileSync(f, "-- changed in the working tree\n");
  const poolSize = opts.concurrent + (opts.quick ? 4 : 10);

  const { vms } = await startBenchVms(
    [
      { name: "pv1", address: "127.0.0.1" },
      { name: "pv2", address: "127.0.0.2" },
    ],
    opts.vmCpu,
    log,
  );
  for (const vm of vms.vms) trackPid(vm.pid);
  onCleanup("stop pool bench VMs", () => stopBuildVms(vms));
  const bareRepo = await gitRepository(repo.dir, path.join(vms.stateDir, "git"), vms.vms[0]!.user);
  const relays: Relay[] = [];
  for (const vm of vms.vms) {
    const r = await startRelay({ upstreamHost: vm.host, upstreamPort: vm.port, rttMs: opts.rttMs, listenHost: vm.host });
    relays.push(r);
    onCleanup(`stop relay ${r.port}`, () => r.close());
  }
  const hosts: Record<"direct" | "rtt", Host[]> = {
    direct: vms.vms.map((vm) => ({
      id: `direct-${vm.name}`,
      vm,
      address: vm.host,
      port: vm.port,
      knownHosts: knownHostsFor(tmp, vm, vm.port),
    })),
    rtt: vms.vms.map((vm, i) => ({
      id: `rtt-${vm.name}`,
      vm,
      address: vm.host,
      port: relays[i]!.port,
      knownHosts: knownHostsFor(tmp, vm, relays[i]!.port),
    })),
  };

  const configDir = path.join(tmp, "config");
  fs.mkdirSync(path.join(configDir, "extensions"), { recursive: true });
  fs.mkdirSync(path.join(configDir, "profiles"), { recursive: true });
  for (const f of fs.readdirSync(path.join(REPO_ROOT, "extensions")))
    fs.copyFileSync(path.join(REPO_ROOT, "extensions", f), path.join(configDir, "extensions", f));
  const writeProfile = (name: string, spec: Record<string, unknown>) =>
    fs.writeFileSync(
      path.join(configDir, "profiles", `${name}.yaml`),
      stringify({ apiVersion: "sandboxer.dev/v1", id: `profile.${name}`, title: name, extension: "ext.vm-packer", ttl: "8h", ...spec }),
    );
  const profile = (name: string, label: string, pool: boolean) =>
    writeProfile(name, {
      params: { hostLabel: label, repository: { path: repo.dir } },
      ...(pool ? { pool: { size: poolSize, refillConcurrency: 8, maxAge: "1d" } } : {}),
    });
  profile("pool-direct", "direct", true);
  profile("nopool-direct", "direct", false);
  profile("pool-rtt", "rtt", true);
  profile("nopool-rtt", "rtt", false);
  // The same repository through git: a small pool of `main` clones, and creates for `feature`.
  const gitProfile = (name: string, label: string, pool: boolean) =>
    writeProfile(name, {
      params: { hostLabel: label, repository: { git: `file://${bareRepo}`, ref: "main" } },
      inputs: { ref: { title: "Git ref", param: "repository.ref" } },
      ...(pool ? { pool: { size: GIT_POOL, refillConcurrency: 2, maxAge: "1d" } } : {}),
    });
  for (const kind of ["direct", "rtt"]) {
    gitProfile(`gitpool-${kind}`, kind, true);
    gitProfile(`gitnopool-${kind}`, kind, false);
  }
  fs.writeFileSync(
    path.join(configDir, "hosts.yaml"),
    stringify({
      apiVersion: "sandboxer.dev/v1",
      hosts: [...hosts.direct.map((h) => ({ h, label: "direct" })), ...hosts.rtt.map((h) => ({ h, label: "rtt" }))].map(({ h, label }) => ({
        id: h.id,
        title: h.id,
        address: h.address,
        port: h.port,
        user: h.vm.user,
        hostKey: h.vm.hostKeyFingerprint,
        workspaceRoot: h.vm.workspaceRoot,
        labels: [label],
        capacity: 400,
      })),
    }),
  );

  const dataDir = path.join(tmp, "data");
  fs.mkdirSync(dataDir, { recursive: true });
  if (opts.db !== "sqlite") throw new Error("the pool bench runs on the embedded database (SQLite)");
  const databaseUrl = `file:${path.join(dataDir, "pools.db")}`;
  const env = { DATABASE_URL: databaseUrl, SANDBOXER_DATA_DIR: dataDir };
  const migrate = await run([process.execPath, "--conditions=react-server", "--import", "tsx", "scripts/db-migrate.ts", "deploy"], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
  });
  if (migrate.code !== 0) throw new Error(`migrate: ${migrate.stderr}`);
  const server = await startAppServer({
    env: {
      ...env,
      SANDBOXER_CONFIG_DIR: configDir,
      SANDBOXER_SSH_IDENTITY: vms.identityFile,
      // The bench follows every one of its 50 concurrent creates on an event stream of one person: above
      // the per-person cap (16 by default, a limit for people, not what is measured here).
      SANDBOXER_MAX_STREAMS_PER_PERSON: "500",
      SANDBOXER_QUOTA_ACTIVE: "0",
      SANDBOXER_WORKER_POLL: "1s",
      SANDBOXER_POOL_REFILL_MAX: "8",
      SANDBOXER_POOL_REFILL_PER_HOST: "4",
      LOG_LEVEL: "warn",
    },
    readyTimeoutMs: 90_000,
    node: "npm-start",
  });
  trackPid(server.process.pid);
  onCleanup("stop pool bench server", async () => {
    await server.stop("SIGTERM");
    untrackPid(server.process.pid);
  });
  const cookie = await signUp(server.url, "pools@bench.test");
  const api = new Api(server.url, cookie);
  const db: Db = await createDb({ provider: "sqlite", url: databaseUrl, file: databaseUrl.slice(5) }, { poolSize: 1 });
  onCleanup("disconnect pool bench db", () => db.$disconnect());
  const user = await db.user.findUniqueOrThrow({ where: { email: "pools@bench.test" } });
  const { token } = await createToken(db, user.id, {
    name: "pool-bench",
    scopes: ["full", "admin"],
    expiresAt: new Date(Date.now() + 86_400_000),
  });
  const cli = createCliEnv({ SANDBOXER_SSH_IDENTITY: vms.identityFile });
  onCleanup("remove pool bench CLI env", () => cli.cleanup());
  const login = await cli.run(["login", "--url", server.url, "--token", token]);
  if (login.code !== 0) throw new Error(`CLI login: ${login.stderr}`);
  // As the quick start has people do: their key registered, so `run` goes through the SSH gateway (one
  // short handshake to the server, which holds its connections to the VMs). `run --direct` is measured too.
  const keyAdd = await cli.run(["keys", "add", `${vms.identityFile}.pub`]);
  if (keyAdd.code !== 0) throw new Error(`CLI keys add: ${keyAdd.stderr}`);

  let hits = 0;
  let claims = 0;
  const pooled = (profileId: string) => db.sandbox.count({ where: { profileId, poolKey: { not: null }, status: "pooled" } });
  async function waitForPool(profileId: string, want: number, maxMs = 900_000) {
    const t0 = performance.now();
    let last = -1;
    for (;;) {
      const n = await pooled(profileId);
      if (n >= want) return round(performance.now() - t0);
      if (performance.now() - t0 > maxMs) throw new Error(`${profileId}: only ${n}/${want} pooled after ${maxMs} ms`);
      if (n !== last && n % 10 === 0) log(`  ${profileId}: ${n}/${want} pooled`);
      last = n;
      await sleep(500);
    }
  }
  async function destroyAll(ids: string[]) {
    await Promise.all(ids.map((id) => api.destroy(id)));
    for (const id of ids) await api.follow(id, 600_000).catch(() => undefined);
  }

  async function variant(kind: "direct" | "rtt"): Promise<PoolVariantResults> {
    const poolProfile = `profile.pool-${kind}`;
    const plainProfile = `profile.nopool-${kind}`;
    const hs = hosts[kind];
    const loadAtStart = loadAverage();
    const ticksAtStart = cpuTicks();
    log(`pools (${kind === "direct" ? "loopback" : `${opts.rttMs} ms RTT`}): waiting for ${poolSize} members of ${poolProfile}`);
    log(`  filled in ${await waitForPool(poolProfile, poolSize)} ms`);

    // Create from the pool vs the script, interleaved.
    const poolCreate = { manager: [] as number[], script: [] as number[], misses: 0 };
    for (let i = 0; i < opts.runs; i++) {
      const t0 = performance.now();
      const r = await api.create(poolProfile);
      const ms = performance.now() - t0;
      claims++;
      if (r.sandbox?.status === "ready") {
        hits++;
        poolCreate.manager.push(ms);
      } else poolCreate.misses++;
      const h = hs[i % hs.length]!;
      const ws = path.join(h.vm.workspaceRoot, `sbx-script${randomBytes(4).toString("hex")}`);
      const s = await run(["sh", path.join(REPO_ROOT, "bench/baseline/create-workspace.sh"), ...scriptArgs(vms, h, ws), repo.dir]);
      if (s.code === 0) poolCreate.script.push(s.ms);
      else log(`  script create failed: ${s.stderr}`);
      await run(["sh", path.join(REPO_ROOT, "bench/baseline/destroy-workspace.sh"), ...scriptArgs(vms, h, ws)]);
      if (r.sandbox) await destroyAll([r.sandbox.id]);
    }
    log(
      `  pool create p50 ${round(median(poolCreate.manager))} ms vs script ${round(median(poolCreate.script))} ms (${poolCreate.misses} misses)`,
    );

    // `sandboxer run -- true` (a pool hit) vs the scripts.
    await waitForPool(poolProfile, poolSize);
    const runs = {
      manager: [] as number[],
      managerDirect: [] as number[],
      scriptFresh: [] as number[],
      scriptReuse: [] as number[],
      /** `run` exits once its destroy is queued: how long after the CLI's exit the sandbox was `destroyed`. */
      destroyedAfterExit: [] as number[],
      misses: 0,
    };
    // Each run's destroy is waited for before the next step, so no step overlaps the one before (the
    // scripts remove their directory on their own clock); a destroy that does not end in `destroyed` fails the bench.
    const awaitBackgroundDestroy = async (stderr: string, into: number[]) => {
      const id = findAnnouncedId(stderr);
      if (!id) return; // failed before its create: nothing to destroy
      const exitedAt = performance.now();
      const f = await api.follow(id, 600_000);
      if (f.final.status !== "destroyed") throw new Error(`run's sandbox ${id} ended ${f.final.status}: ${f.final.statusReason ?? ""}`);
      into.push(f.endAt - exitedAt);
    };
    const runBreakdown = { cliTotal: [] as number[], runTotal: [] as number[], steps: {} as Record<string, number[]> };
    const reuseHost = hs[0]!;
    const reuseDir = path.join(reuseHost.vm.workspaceRoot, `sbx-reuse${randomBytes(4).toString("hex")}`);
    await run(["ssh", ...sshOpts(vms, reuseHost), `${reuseHost.vm.user}@${reuseHost.address}`, "mkdir", "-p", reuseDir]);
    const rsyncTo = (h: Host, dir: string) =>
      run([
        "rsync",
        "-az",
        "--filter=:- .gitignore",
        "--exclude=.git",
        "-e",
        ["ssh", ...sshOpts(vms, h)].join(" "),
        "--",
        `${worktree}/`,
        `${h.vm.user}@${h.address}:${dir}/`,
      ]);
    for (let i = 0; i < opts.runs; i++) {
      const r = await runCli(cli, ["run", poolProfile, "--", "true"], worktree);
      if (r.code === 0) runs.manager.push(r.durationMs);
      // "▸ total 1.2 s (create 0.1 s, sync 0.4 s, command 0.1 s, destroy 0.3 s)": where the CLI's time went.
      const m = /total ([\d.]+) s \(([^)]*)\)/.exec(r.stderr);
      if (m) {
        runBreakdown.cliTotal.push(r.durationMs);
        runBreakdown.runTotal.push(Number(m[1]) * 1000);
        for (const part of m[2]!.split(", ")) {
          const [what, secs] = part.split(" ");
          (runBreakdown.steps[what!] ??= []).push(Number(secs) * 1000);
        }
      } else log(`  sandboxer run failed (${r.code}): ${r.stderr.slice(0, 300)}`);
      await awaitBackgroundDestroy(r.stderr, runs.destroyedAfterExit);
      const direct = await runCli(cli, ["run", "--direct", poolProfile, "--", "true"], worktree);
      if (direct.code === 0) runs.managerDirect.push(direct.durationMs);
      else log(`  sandboxer run --direct failed (${direct.code}): ${direct.stderr.slice(0, 300)}`);
      await awaitBackgroundDestroy(direct.stderr, runs.destroyedAfterExit);
      const h = hs[i % hs.length]!;
      const ws = path.join(h.vm.workspaceRoot, `sbx-script${randomBytes(4).toString("hex")}`);
      const t0 = performance.now();
      const a = await run(["sh", path.join(REPO_ROOT, "bench/baseline/create-workspace.sh"), ...scriptArgs(vms, h, ws), worktree]);
      const b = await run(["ssh", ...sshOpts(vms, h), `${h.vm.user}@${h.address}`, "cd", ws, "&&", "true"]);
      const c = await run(["sh", path.join(REPO_ROOT, "bench/baseline/destroy-workspace.sh"), ...scriptArgs(vms, h, ws)]);
      if (a.code === 0 && b.code === 0 && c.code === 0) runs.scriptFresh.push(performance.now() - t0);
      const t1 = performance.now();
      const d = await rsyncTo(reuseHost, reuseDir);
      const e = await run(["ssh", ...sshOpts(vms, reuseHost), `${reuseHost.vm.user}@${reuseHost.address}`, "cd", reuseDir, "&&", "true"]);
      if (d.code === 0 && e.code === 0) runs.scriptReuse.push(performance.now() - t1);
    }
    await run(["sh", path.join(REPO_ROOT, "bench/baseline/destroy-workspace.sh"), ...scriptArgs(vms, reuseHost, reuseDir)]);
    log(
      `  run -- true: sandboxer ${round(median(runs.manager))} ms (--direct ${round(median(runs.managerDirect))} ms), script fresh ${round(median(runs.scriptFresh))} ms, script reusing a directory ${round(median(runs.scriptReuse))} ms`,
    );

    // A create for another ref: a git pool member moved on its VM vs a fresh clone (no pool), interleaved.
    const refMove = { moved: [] as number[], freshClone: [] as number[], misses: 0 };
    for (let i = 0; i < opts.runs; i++) {
      await waitForPool(`profile.gitpool-${kind}`, GIT_POOL);
      const t0 = performance.now();
      const r = await api.create(`profile.gitpool-${kind}`, { ref: "feature" });
      const f = r.sandbox ? await api.follow(r.sandbox.id, 600_000) : null;
      // `creating` in the response: a member was claimed to be moved (a miss would be `queued`).
      if (r.sandbox?.status === "creating" && f?.final.status === "ready") refMove.moved.push(f.endAt - t0);
      else {
        refMove.misses++;
        log(`  ref move: ${r.sandbox?.status ?? r.error} → ${f?.final.status} ${f?.final.statusReason ?? ""}`);
      }
      if (r.sandbox) await destroyAll([r.sandbox.id]);
      const t1 = performance.now();
      const c = await api.create(`profile.gitnopool-${kind}`, { ref: "feature" });
      const g = c.sandbox ? await api.follow(c.sandbox.id, 600_000) : null;
      if (g?.final.status === "ready") refMove.freshClone.push(g.endAt - t1);
      else log(`  fresh clone: ${g?.final.status} ${g?.final.statusReason ?? c.error ?? ""}`);
      if (c.sandbox) await destroyAll([c.sandbox.id]);
    }
    log(
      `  create for another ref: pool member moved ${round(median(refMove.moved))} ms vs fresh clone ${round(median(refMove.freshClone))} ms (POST → ready, ${refMove.misses} misses)`,
    );

    // A person's create (no pool) when idle, then while refills run.
    await waitForPool(poolProfile, poolSize);
    const personIdle: number[] = [];
    for (let i = 0; i < Math.min(3, opts.runs); i++) {
      const t0 = performance.now();
      const r = await api.create(plainProfile);
      const f = r.sandbox ? await api.follow(r.sandbox.id, 600_000) : null;
      if (f?.final.status === "ready") personIdle.push(f.endAt - t0);
      if (r.sandbox) await destroyAll([r.sandbox.id]);
    }

    // 50 at once from the pool.
    const n = opts.concurrent;
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: n }, () => api.create(poolProfile)));
    const firstWave = results.filter((r) => r.sandbox?.status === "ready").length;
    const finals = await Promise.all(
      results.map(async (r) => (r.sandbox && r.sandbox.status !== "ready" ? (await api.follow(r.sandbox.id, 600_000)).final : r.sandbox)),
    );
    const poolWall = performance.now() - t0;
    claims += n;
    hits += firstWave;
    const poolFailures = finals.filter((f) => f?.status !== "ready").length;
    log(`  ${n} creates at once from the pool: ${round(poolWall)} ms wall, ${firstWave} ready in the response, ${poolFailures} failures`);
    // Refills are running now: a person's create meanwhile.
    const personBusy: number[] = [];
    for (let i = 0; i < Math.min(3, opts.runs); i++) {
      const t1 = performance.now();
      const r = await api.create(plainProfile);
      const f = r.sandbox ? await api.follow(r.sandbox.id, 600_000) : null;
      if (f?.final.status === "ready") personBusy.push(f.endAt - t1);
      if (r.sandbox) await destroyAll([r.sandbox.id]);
    }
    await destroyAll(finals.flatMap((f) => (f ? [f.id] : [])));

    // 50 at once without a pool vs the script with xargs -P 8 (after the pool has refilled, so refills do not compete).
    await waitForPool(poolProfile, poolSize);
    const c0 = performance.now();
    const plain = await Promise.all(
      Array.from({ length: n }, async () => {
        const r = await api.create(plainProfile);
        return r.sandbox ? (await api.follow(r.sandbox.id, 600_000)).final : null;
      }),
    );
    const plainWall = performance.now() - c0;
    const plainFailures = plain.filter((f) => f?.status !== "ready").length;
    await destroyAll(plain.flatMap((f) => (f ? [f.id] : [])));
    const list = path.join(tmp, `xargs-${kind}.txt`);
    const dirs = Array.from({ length: n }, (_, i) => {
      const h = hs[i % hs.length]!;
      return { h, ws: path.join(h.vm.workspaceRoot, `sbx-xargs${randomBytes(4).toString("hex")}`) };
    });
    fs.writeFileSync(list, dirs.map(({ h, ws }) => [...scriptArgs(vms, h, ws), repo.dir].join(" ")).join("\n") + "\n");
    const x = await run(["sh", "-c", `xargs -P 8 -L 1 sh ${path.join(REPO_ROOT, "bench/baseline/create-workspace.sh")} < ${list}`]);
    let scriptFailures = x.code === 0 ? 0 : 1;
    for (const { h, ws } of dirs) {
      if (!fs.existsSync(ws)) scriptFailures++;
      await run(["sh", path.join(REPO_ROOT, "bench/baseline/destroy-workspace.sh"), ...scriptArgs(vms, h, ws)]);
    }
    log(
      `  ${n} creates at once without a pool: ${round(plainWall)} ms (${plainFailures} failures) vs script xargs -P 8: ${round(x.ms)} ms`,
    );

    return {
      rttMs: kind === "direct" ? 0 : opts.rttMs,
      machine: { loadAverageAtStart: loadAtStart, loadAverageAtEnd: loadAverage(), cpuPercent: cpuShares(ticksAtStart, cpuTicks()) },
      poolCreate: { manager: summarize(poolCreate.manager), script: summarize(poolCreate.script), misses: poolCreate.misses },
      run: {
        manager: summarize(runs.manager),
        managerDirect: summarize(runs.managerDirect),
        scriptFresh: summarize(runs.scriptFresh),
        scriptReuse: summarize(runs.scriptReuse),
        destroyedAfterExit: summarize(runs.destroyedAfterExit),
        misses: runs.misses,
        // The CLI process's wall time minus what `run` itself timed is node's start-up (tsx loading the CLI).
        breakdownMedianMs: {
          cliProcess: round(median(runBreakdown.cliTotal)),
          insideRun: round(median(runBreakdown.runTotal)),
          ...Object.fromEntries(Object.entries(runBreakdown.steps).map(([k, v]) => [k, round(median(v))])),
        },
      },
      poolConcurrent: { creates: n, wallMs: round(poolWall), failures: poolFailures, hits: firstWave },
      concurrentNoPool: { creates: n, wallMs: round(plainWall), failures: plainFailures, scriptWallMs: round(x.ms), scriptFailures },
      personCreate: { idle: summarize(personIdle), duringRefill: summarize(personBusy) },
      refMove: { moved: summarize(refMove.moved), freshClone: summarize(refMove.freshClone), misses: refMove.misses },
    };
  }

  const loopback = await variant("direct");
  const rtt20 = await variant("rtt");
  await server.stop("SIGTERM");
  const figures = (v: PoolVariantResults) => ({
    poolCreateP50Ms: v.poolCreate.manager.median,
    poolCreateRatio: ratio(v.poolCreate.manager.median, v.poolCreate.script.median),
    runPoolRatioFresh: ratio(v.run.manager.median, v.run.scriptFresh.median),
    runPoolRatioReuse: ratio(v.run.manager.median, v.run.scriptReuse.median),
    runPoolRatioFreshDirect: ratio(v.run.managerDirect.median, v.run.scriptFresh.median),
    poolConcurrentWallMs: v.poolConcurrent.wallMs,
    concurrentRatioVsScript: ratio(v.concurrentNoPool.wallMs, v.concurrentNoPool.scriptWallMs),
    poolRefMoveMs: v.refMove.moved.median,
    freshCloneMs: v.refMove.freshClone.median,
  });
  const a = figures(loopback);
  const b = figures(rtt20);
  return {
    ...a,
    poolCreateP50MsRtt20: b.poolCreateP50Ms,
    poolCreateRatioRtt20: b.poolCreateRatio,
    runPoolRatioFreshRtt20: b.runPoolRatioFresh,
    runPoolRatioReuseRtt20: b.runPoolRatioReuse,
    runPoolRatioFreshDirectRtt20: b.runPoolRatioFreshDirect,
    poolConcurrentWallMsRtt20: b.poolConcurrentWallMs,
    concurrentRatioVsScriptRtt20: b.concurrentRatioVsScript,
    poolRefMoveMsRtt20: b.poolRefMoveMs,
    freshCloneMsRtt20: b.freshCloneMs,
    pools: {
      loopback,
      rtt20,
      poolSize,
      hitRate: claims ? round(hits / claims, 3) : 0,
      repository: { files: repo.files, bytes: repo.bytes },
      method:
        "Own app server (SQLite, server.mjs), two sshd VMs, each also behind bench/relay.ts adding the round trip; pool profiles of " +
        `${poolSize} members (refillConcurrency 8, SANDBOXER_POOL_REFILL_MAX 8, PER_HOST 4). poolCreate: POST → response (ready: a claim) vs ` +
        "create-workspace.sh; run: `sandboxer run <pool profile> -- true` (whole CLI process of the served one-file CLI bundle: node start, create, delta sync with 10 " +
        "changed files, command, the destroy queued (the CLI exits then; destroyedAfterExit: when the server had finished it, waited for before the next step); the person's key registered, so through the SSH gateway — managerDirect: the same with --direct, straight to the VM's sshd) vs mkdir+rsync+ssh true+rm (fresh) and rsync+ssh true into one kept directory (reuse); " +
        "concurrent: N POSTs at once, wall until every sandbox is ready; without a pool vs the script under xargs -P 8. " +
        `refMove: the repository as git (main; feature: 10 files changed, 1 deleted, 1 added), a pool of ${GIT_POOL} main clones; ` +
        "POST for ref feature → ready (a member moved on the VM) vs the same POST to a profile without a pool (fresh git clone --depth 1).",
    },
  };
}

/**
 * The CLI as people install it: the one-file bundle the server serves at /cli/sandboxer.cjs (built
 * by `next build` into <distDir>/cli/), which needs no TypeScript loader at start-up. A checkout's
 * bin/sandboxer.mjs (tsx) starts 0.5–1 s slower on this machine; it is used only when no bundle was built.
 */
const CLI_BUNDLE = path.join(REPO_ROOT, process.env.SANDBOXER_DIST_DIR ?? ".next", "cli", "sandboxer.cjs");

async function runCli(cli: CliEnv, args: string[], cwd: string): Promise<{ code: number | null; stderr: string; durationMs: number }> {
  if (!fs.existsSync(CLI_BUNDLE)) return cli.run(args, { cwd });
  const t0 = performance.now();
  const r = await run([process.execPath, CLI_BUNDLE, ...args], { cwd, env: cli.env as NodeJS.ProcessEnv });
  return { code: r.code, stderr: r.stderr, durationMs: performance.now() - t0 };
}

/** Members of each git pool (the ref-move measurement claims one per run and waits for the refill). */
const GIT_POOL = 3;

/**
 * The generated tree as a bare git repository the VM user can fetch from: `main` as generated,
 * `feature` with 10 files changed, one deleted and one added.
 */
async function gitRepository(tree: string, root: string, owner: string): Promise<string> {
  const work = path.join(root, "work");
  const bare = path.join(root, "app.git");
  fs.mkdirSync(root, { recursive: true, mode: 0o755 });
  fs.cpSync(tree, work, { recursive: true });
  const files = listFiles(work).filter((f) => f.endsWith(".hs"));
  const commit = ["-c", "user.email=bench@bench", "-c", "user.name=bench", "commit", "-q", "-m"];
  const steps: (string[] | (() => void))[] = [
    ["git", "init", "-q", "-b", "main", work],
    ["git", "-C", work, "add", "-A"],
    ["git", "-C", work, ...commit, "main"],
    ["git", "-C", work, "checkout", "-q", "-b", "feature"],
    () => {
      for (const f of files.slice(0, 10)) fs.appendFileSync(f, "-- changed on feature\n");
      fs.rmSync(files[10]!);
      fs.writeFileSync(path.join(work, "FEATURE.md"), "only on feature\n");
    },
    ["git", "-C", work, "add", "-A"],
    ["git", "-C", work, ...commit, "feature"],
    ["git", "clone", "-q", "--bare", work, bare],
    ["chown", "-R", `${owner}:`, root],
  ];
  for (const step of steps) {
    if (typeof step === "function") {
      step();
      continue;
    }
    const r = await run(step, { env: process.env });
    if (r.code !== 0) throw new Error(`${step.join(" ")}: ${r.stderr}`);
  }
  return bare;
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p));
    else out.push(p);
  }
  return out.sort();
}

// Alone: node --conditions=react-server --import tsx bench/pools.ts [--quick] [--rtt MS] [--runs N] [--files N] [--vms-cpu-shared]
if (import.meta.url === `file://${process.argv[1]}`) {
  const { installCleanupHandlers, runCleanup } = await import("./lib/cleanup");
  const quick = process.argv.includes("--quick");
  const rttArg = process.argv.indexOf("--rtt");
  const runsArg = process.argv.indexOf("--runs");
  const filesArg = process.argv.indexOf("--files");
  installCleanupHandlers();
  const log = (msg: string) => console.log(`[bench pools ${new Date().toISOString().slice(11, 19)}] ${msg}`);
  try {
    const r = await measurePools(
      {
        quick,
        db: "sqlite",
        files: filesArg > 0 ? Number(process.argv[filesArg + 1]) : quick ? 200 : 2000,
        runs: runsArg > 0 ? Number(process.argv[runsArg + 1]) : quick ? 3 : 10,
        concurrent: quick ? 8 : 50,
        vmCpu: process.argv.includes("--vms-cpu-shared") ? "shared" : "low",
        rttMs: rttArg > 0 ? Number(process.argv[rttArg + 1]) : 20,
      },
      log,
    );
    const out = path.join(REPO_ROOT, "bench", "results", quick ? "pools-quick.json" : "pools.json");
    fs.writeFileSync(out, JSON.stringify({ ...r, loadAverageAtEnd: os.loadavg() }, null, 2) + "\n");
    log(`results: ${path.relative(REPO_ROOT, out)}`);
    await runCleanup();
    process.exit(0);
  } catch (e) {
    console.error(`pool bench failed: ${(e as Error).stack ?? String(e)}`);
    await runCleanup();
    process.exit(1);
  }
}
