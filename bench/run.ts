// npm run bench -- [--runs N] [--db postgres] [--quick] [--cpu-prof] …   (see bench/lib/options.ts)
//
// Measures sand-boxer against the hand-written way, side by side in ONE process run, on real parts:
// two OpenSSH sshd "build VMs" on loopback (default MaxStartups), the BUILT app under server.mjs (npm start)
// on the embedded database (or a throw-away PostgreSQL database), a generated 2,000-file repository.
//   1. create / destroy through the app's API (POST → SSE `end`; DELETE → SSE `end`) interleaved with
//      bench/baseline/{create,destroy}-workspace.sh (ssh mkdir + rsync -az; ssh rm -rf)
//   2. 50 creates at once over two hosts: wall time, failures, sshd connections per VM (sampled 25 ms)
//   3. overview (GET /) and GET /api/v1/sandboxes at 10,000 seeded sandboxes: response times and the
//      database statements per request (counted inside the server by bench/server-probe.mjs)
//   4. destroy latency: DELETE → `destroyed` (from the SSE stream)
//   5. server RSS idle and peak (the server's process tree, from /proc)
//   6. the dashboard in Chromium (bench/dashboard.ts): create `ready` → shown, destroy click → `destroyed`
//      shown, and the database statements per second 20 idle overview tabs cost
// Writes bench/results/latest.json and latest.md. Everything it starts is stopped and removed on
// exit, error or Ctrl-C (bench/lib/cleanup.ts). Talks only to loopback.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";

import pg from "pg";
import { stringify } from "yaml";

import { createToken } from "@/lib/auth/tokens";
import { createDb, type Db } from "@/lib/db/client";
import { IN_FLIGHT_STATUSES } from "@/lib/manager/states";

import { startAppServer, signUp, type AppServer } from "../tests/support/app-server";
import { stopBuildVms, type BuildVm, type BuildVms } from "../tests/support/build-vms";
import { startBenchVms } from "./lib/vms";
import { measureCliStartup, type CliStartupBench } from "./cli-startup";
import { measureCompose, writeComposeProfile } from "./compose";
import { measureDashboard, type DashboardBench } from "./dashboard";
import { measureGateway, type GatewayBench } from "./gateway";
import { Api, describeFetchError, type FollowResult, type SandboxView } from "./lib/api";
import { installCleanupHandlers, onCleanup, runCleanup, trackDir, trackPid, untrackPid } from "./lib/cleanup";
import { summarizeCpuProfile } from "./lib/cpuprofile";
import { summarizeHeapSnapshot, type HeapSummary } from "./lib/heapsnapshot";
import { cpuTicks, describeFaults, describeMachine, describeVmCosts, finishMachine } from "./lib/machine";
import { USAGE, parseOptions, type BenchOptions } from "./lib/options";
import type { MemorySnapshot } from "./lib/memory";
import { childrenOf, mb, serverProcStat, startSampler, threadCpuDelta, threadCpuMs, treeRss } from "./lib/procfs";
import { countTree, generateRepo, type GeneratedRepo } from "./lib/repo";
import { runNode } from "./lib/run-node";
import { renderMarkdown, type BenchResults, type CreateBreakdown, type DestroyBreakdown } from "./lib/report";
import { median, percentile, ratio, round, summarize, type Summary } from "./lib/stats";
import { measurePools } from "./pools";

const REPO_ROOT = path.resolve(import.meta.dirname, "..");
const PROFILE_ID = "profile.bench-vm";
const HOST_LABEL = "bench";
const PG_ADMIN_URL = process.env.SANDBOXER_BENCH_POSTGRES_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const FOLLOW_TIMEOUT_MS = 180_000;
const METRICS_TOKEN = randomBytes(24).toString("hex");

const log = (msg: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function assertLoopbackUrl(url: string): void {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
  if (!(host === "localhost" || host === "::1" || /^127\./.test(host))) throw new Error(`the bench talks only to loopback, not ${host}`);
}

function runScript(argv: string[], timeoutMs = 120_000): Promise<{ ms: number; code: number; stderr: string }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const env: NodeJS.ProcessEnv = {
      NODE_ENV: "production",
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/root",
      LC_ALL: "C",
    };
    const child = execFile(argv[0]!, argv.slice(1), { timeout: timeoutMs, env, encoding: "utf8" }, (err, _stdout, stderr) => {
      untrackPid(child.pid);
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ ms: performance.now() - t0, code, stderr: stderr.trim() });
    });
    trackPid(child.pid);
  });
}

// ─── set-up ──────────────────────────────────────────────────────────────────────────────────────

interface Setup {
  opts: BenchOptions;
  tmp: string;
  repo: GeneratedRepo;
  vms: BuildVms;
  databaseUrl: string;
  dataDir: string;
  configDir: string;
  queryLog: string;
  memoryLog: string;
  profileDir: string | null;
  /** --windows: where the server's probe writes each create window's statements (and profile). */
  windowDir: string | null;
  diagnosticDir: string;
  server: AppServer;
  api: Api;
  db: Db;
  timings: Record<string, number>;
  /** How the build VMs share the CPU with the server (bench/lib/vms.ts). */
  vmCpu: string;
}

async function createDatabase(opts: BenchOptions, tmp: string): Promise<string> {
  if (opts.db === "sqlite") return `file:${path.join(tmp, "data", "bench.db")}`;
  assertLoopbackUrl(PG_ADMIN_URL);
  const name = `sandboxer_bench_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  onCleanup(`drop database ${name}`, async () => {
    const c = new pg.Client({ connectionString: PG_ADMIN_URL });
    await c.connect();
    try {
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    } finally {
      await c.end();
    }
  });
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

function writeConfigDir(dir: string, vms: BuildVms, repo: GeneratedRepo): void {
  fs.mkdirSync(path.join(dir, "extensions"), { recursive: true });
  fs.mkdirSync(path.join(dir, "profiles"), { recursive: true });
  for (const f of fs.readdirSync(path.join(REPO_ROOT, "extensions"))) {
    fs.copyFileSync(path.join(REPO_ROOT, "extensions", f), path.join(dir, "extensions", f));
  }
  fs.writeFileSync(
    path.join(dir, "profiles", "bench-vm.yaml"),
    stringify({
      apiVersion: "sandboxer.dev/v1",
      id: PROFILE_ID,
      title: "Bench: build VM workspace with a generated repository",
      description: "A workspace on one of the bench's loopback build VMs, filled by rsync from a generated checkout.",
      extension: "ext.vm-packer",
      params: { hostLabel: HOST_LABEL, repository: { path: repo.dir } },
      ttl: "8h",
    }),
  );
  writeComposeProfile(dir, HOST_LABEL);
  // The no-setup profile (a directory on the server), for the dashboard part (bench/dashboard.ts).
  fs.copyFileSync(path.join(REPO_ROOT, "profiles", "local.yaml"), path.join(dir, "profiles", "local.yaml"));
  fs.writeFileSync(
    path.join(dir, "hosts.yaml"),
    stringify({
      apiVersion: "sandboxer.dev/v1",
      hosts: vms.vms.map((vm) => ({
        id: `bench-${vm.name}`,
        title: `Bench VM ${vm.name}`,
        address: vm.host,
        port: vm.port,
        user: vm.user,
        hostKey: vm.hostKeyFingerprint,
        workspaceRoot: vm.workspaceRoot,
        labels: [HOST_LABEL],
        capacity: 200,
      })),
    }),
  );
}

async function setUp(opts: BenchOptions): Promise<Setup> {
  const timings: Record<string, number> = {};
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sandboxer-bench-"));
  trackDir(tmp);
  onCleanup("remove temp dir", () => fs.rmSync(tmp, { recursive: true, force: true }));

  let t = performance.now();
  const repo = generateRepo(path.join(tmp, "repo"), opts.files);
  timings.generateRepoMs = round(performance.now() - t);
  log(`repository: ${repo.files} files, ${(repo.bytes / 2 ** 20).toFixed(1)} MiB`);

  t = performance.now();
  // Two VMs, one sshd each, default MaxStartups (10:30:100), on free loopback ports.
  const { vms, vmCpu } = await startBenchVms(
    [
      { name: "vm1", address: "127.0.0.1" },
      { name: "vm2", address: "127.0.0.2" },
    ],
    opts.vmCpu,
    log,
  );
  for (const vm of vms.vms) trackPid(vm.pid);
  onCleanup("stop build VMs", () => stopBuildVms(vms));
  timings.startVmsMs = round(performance.now() - t);
  log(`build VMs: ${vms.vms.map((v) => `${v.name} ${v.host}:${v.port} (sshd pid ${v.pid})`).join(", ")}`);

  const dataDir = path.join(tmp, "data");
  fs.mkdirSync(dataDir, { recursive: true });
  const databaseUrl = await createDatabase(opts, tmp);
  const dbEnv = { DATABASE_URL: databaseUrl, SANDBOXER_DATA_DIR: dataDir };
  t = performance.now();
  await runNode("scripts/db-migrate.ts", ["deploy"], dbEnv);
  timings.migrateMs = round(performance.now() - t);
  t = performance.now();
  if (opts.sandboxes > 0) {
    const out = await runNode("scripts/seed.ts", ["--sandboxes", String(opts.sandboxes), "--active", String(opts.active)], dbEnv);
    log(out);
  }
  timings.seedMs = round(performance.now() - t);

  const configDir = path.join(tmp, "config");
  writeConfigDir(configDir, vms, repo);
  const queryLog = path.join(tmp, "queries.jsonl");
  const memoryLog = path.join(tmp, "memory.jsonl");
  const windowDir = opts.windows ? path.join(tmp, "windows") : null;
  // With --windows the profiler runs only inside the create windows (bench/server-probe.mjs).
  const profileDir = opts.cpuProf && !windowDir ? path.join(tmp, "cpu-profiles") : null;
  const nodeOptions = [`--import=${path.join(REPO_ROOT, "bench", "server-probe.mjs")}`];
  const diagnosticDir = path.join(tmp, "diagnostics");
  if (opts.heapSnapshot) {
    fs.mkdirSync(diagnosticDir, { recursive: true });
    nodeOptions.push("--heapsnapshot-signal=SIGUSR2", `--diagnostic-dir=${diagnosticDir}`);
  }

  t = performance.now();
  const server = await startAppServer({
    env: {
      ...dbEnv,
      SANDBOXER_CONFIG_DIR: configDir,
      SANDBOXER_SSH_IDENTITY: vms.identityFile,
      // The bench follows every one of its 50 concurrent creates on an event stream of one person: above
      // the per-person cap (16 by default, a limit for people, not what is measured here).
      SANDBOXER_MAX_STREAMS_PER_PERSON: "500",
      // The gateway part opens 50 sessions at once as that one person (the default cap is 20): how many
      // were open at once used to depend on how fast the VM ran each `echo`.
      SANDBOXER_SSH_GATEWAY_MAX_SESSIONS_PER_PERSON: "100",
      // One person fires all the creates; the default quota (5 active) would refuse most of them.
      SANDBOXER_QUOTA_ACTIVE: "0",
      // /api/metrics for the dashboard part's statement counters, without a session lookup per read.
      SANDBOXER_METRICS_TOKEN: METRICS_TOKEN,
      // The product's default poll interval (the test harness shortens it).
      SANDBOXER_WORKER_POLL: "1s",
      // --quick is the CI's smoke run, beside other suites: a VM that misses one health check under that
      // load is checked again within seconds, not a minute (the concurrency part waits for both).
      ...(opts.quick ? { SANDBOXER_HEALTH_INTERVAL: "10s" } : {}),
      LOG_LEVEL: "warn",
      NODE_OPTIONS: nodeOptions.join(" "),
      SANDBOXER_BENCH_QUERY_LOG: queryLog,
      SANDBOXER_BENCH_MEMORY_LOG: memoryLog,
      ...(profileDir ? { SANDBOXER_BENCH_CPU_PROFILE_DIR: profileDir } : {}),
      ...(windowDir ? { SANDBOXER_BENCH_WINDOW_DIR: windowDir, SANDBOXER_BENCH_WINDOW_PROFILE: opts.cpuProf ? "1" : "0" } : {}),
      ...opts.serverEnv,
    },
    readyTimeoutMs: 90_000,
    nodeFlags: opts.serverNodeFlags,
    // What `npm start` runs it on (scripts/server-node.sh): the server runtime when npm ci set it up.
    node: "npm-start",
  });
  trackPid(server.process.pid);
  onCleanup("stop app server", async () => {
    await server.stop("SIGTERM");
    untrackPid(server.process.pid);
  });
  timings.serverBootMs = round(performance.now() - t);
  log(`app server: ${server.url} (pid ${server.process.pid}, Node ${server.node.version}), ready in ${timings.serverBootMs} ms`);

  const cookie = await signUp(server.url, "bench@bench.test");
  const api = new Api(server.url, cookie);
  const db = await createDb(
    opts.db === "sqlite"
      ? { provider: "sqlite", url: databaseUrl, file: databaseUrl.slice(5) }
      : { provider: "postgresql", url: databaseUrl },
    { poolSize: 2 },
  );
  onCleanup("disconnect bench db client", () => db.$disconnect());
  return {
    opts,
    tmp,
    repo,
    vms,
    databaseUrl,
    dataDir,
    configDir,
    queryLog,
    memoryLog,
    profileDir,
    windowDir,
    diagnosticDir,
    server,
    api,
    db,
    timings,
    vmCpu,
  };
}

/**
 * Seeded data holds sandboxes in queued/creating/destroying with no operation (as a crashed server
 * would leave them): the worker's maintenance repairs them in its first minute. Wait for that, so it
 * does not run during the measurements.
 */
async function settle(s: Setup, maxMs = 120_000): Promise<number> {
  const t0 = performance.now();
  let quietSince = 0;
  for (;;) {
    const [ops, transient] = await Promise.all([
      s.db.operation.count({ where: { state: { in: ["queued", "running"] } } }),
      s.db.sandbox.count({ where: { status: { in: [...IN_FLIGHT_STATUSES] } } }),
    ]);
    if (ops === 0 && transient === 0) {
      quietSince ||= performance.now();
      if (performance.now() - quietSince > 2_000) break;
    } else quietSince = 0;
    if (performance.now() - t0 > maxMs) {
      log(`warning: still ${ops} operation(s) active and ${transient} transient sandbox(es) after ${maxMs} ms; measuring anyway`);
      break;
    }
    await sleep(250);
  }
  return round(performance.now() - t0);
}

// ─── measurements ───────────────────────────────────────────────────────────────────────────────

interface ManagerRun {
  ms: number;
  ok: boolean;
  id?: string;
  vm?: BuildVm;
  workspace?: string;
  error?: string;
  follow?: FollowResult;
  t0?: number;
  postMs?: number;
}

function vmFor(s: Setup, sandbox: SandboxView | undefined): BuildVm | undefined {
  return s.vms.vms.find((v) => sandbox?.host && v.host === sandbox.host.address && v.port === sandbox.host.port);
}

async function managerCreate(s: Setup, countQueries = false): Promise<ManagerRun> {
  const t0 = performance.now();
  const created = countQueries ? await postCounted(s) : await s.api.create(PROFILE_ID);
  const postMs = performance.now() - t0;
  if (!created.sandbox) return { ms: performance.now() - t0, ok: false, error: `POST ${created.status}: ${created.error}` };
  const id = created.sandbox.id;
  try {
    const follow = await s.api.follow(id, FOLLOW_TIMEOUT_MS);
    const ms = follow.endAt - t0;
    const vm = vmFor(s, follow.final);
    const ok = follow.final.status === "ready";
    return {
      ms,
      ok,
      id,
      vm,
      workspace: follow.final.handle?.workspacePath,
      follow,
      t0,
      postMs,
      error: ok ? undefined : `${follow.final.status}: ${follow.final.statusReason}`,
    };
  } catch (e) {
    return { ms: performance.now() - t0, ok: false, id, error: (e as Error).message };
  }
}

async function postCounted(s: Setup) {
  const res = await fetch(`${s.api.url}/api/v1/sandboxes`, {
    method: "POST",
    headers: { cookie: s.api.cookie, origin: s.api.url, "content-type": "application/json", "x-bench-count-queries": "1" },
    body: JSON.stringify({ profile: PROFILE_ID, input: {} }),
  });
  const text = await res.text();
  return res.status === 202
    ? { status: res.status, sandbox: JSON.parse(text) as SandboxView }
    : { status: res.status, error: text, sandbox: undefined };
}

async function managerDestroy(s: Setup, id: string, countQueries = false): Promise<ManagerRun> {
  const t0 = performance.now();
  const res = await fetch(`${s.api.url}/api/v1/sandboxes/${id}`, {
    method: "DELETE",
    headers: { cookie: s.api.cookie, origin: s.api.url, ...(countQueries ? { "x-bench-count-queries": "1" } : {}) },
  });
  const text = await res.text();
  if (res.status !== 202) return { ms: performance.now() - t0, ok: false, id, error: `DELETE ${res.status}: ${text.slice(0, 300)}` };
  try {
    const follow = await s.api.follow(id, FOLLOW_TIMEOUT_MS);
    const ok = follow.final.status === "destroyed";
    return { ms: follow.endAt - t0, ok, id, follow, t0, error: ok ? undefined : `${follow.final.status}: ${follow.final.statusReason}` };
  } catch (e) {
    return { ms: performance.now() - t0, ok: false, id, error: (e as Error).message };
  }
}

function scriptArgs(s: Setup, vm: BuildVm, workspace: string): string[] {
  return [vm.host, String(vm.port), vm.user, s.vms.identityFile, s.vms.knownHostsPath, workspace];
}

async function scriptCreate(s: Setup, vm: BuildVm): Promise<ManagerRun> {
  const workspace = path.join(vm.workspaceRoot, `sbx-script${randomBytes(4).toString("hex")}`);
  const r = await runScript([
    "sh",
    path.join(REPO_ROOT, "bench/baseline/create-workspace.sh"),
    ...scriptArgs(s, vm, workspace),
    s.repo.dir,
  ]);
  return { ms: r.ms, ok: r.code === 0, vm, workspace, error: r.code === 0 ? undefined : `exit ${r.code}: ${r.stderr}` };
}

async function scriptDestroy(s: Setup, vm: BuildVm, workspace: string): Promise<ManagerRun> {
  const r = await runScript(["sh", path.join(REPO_ROOT, "bench/baseline/destroy-workspace.sh"), ...scriptArgs(s, vm, workspace)]);
  const ok = r.code === 0 && !fs.existsSync(workspace);
  return { ms: r.ms, ok, vm, workspace, error: ok ? undefined : `exit ${r.code}: ${r.stderr}` };
}

function checkWorkspace(s: Setup, workspace: string | undefined): string | null {
  if (!workspace) return "no workspace path";
  if (!fs.existsSync(workspace)) return `${workspace} does not exist`;
  const t = countTree(workspace);
  if (t.files !== s.repo.files || t.bytes !== s.repo.bytes)
    return `${workspace} has ${t.files} files / ${t.bytes} bytes, expected ${s.repo.files} / ${s.repo.bytes}`;
  return null;
}

/** Where a create's time went, from its stream: client clock for POST/end, server clock between log lines. */
function breakdown(run: ManagerRun): CreateBreakdown | null {
  const f = run.follow;
  if (!f || run.t0 === undefined || run.postMs === undefined) return null;
  const events = f.events;
  const at = (pred: (e: (typeof events)[number]) => boolean) => {
    const e = events.find(pred);
    return e?.at ? Date.parse(e.at) : undefined;
  };
  const queued = at((e) => e.type === "state" && e.status === "queued");
  const creating = at((e) => e.type === "state" && e.status === "creating");
  const connecting = at((e) => e.type === "log" && !!e.message?.startsWith("Connecting to "));
  const created = at((e) => e.type === "log" && !!e.message?.startsWith("Created "));
  const syncing = at((e) => e.type === "log" && !!e.message?.startsWith("Syncing "));
  const synced = at((e) => e.type === "log" && !!e.message?.startsWith("Synced "));
  const ready = at((e) => e.type === "state" && e.status === "ready");
  if ([queued, creating, connecting, created, syncing, synced, ready].some((v) => v === undefined)) return null;
  // The client's wall-clock at POST start: the event times are the server's Date.now() on the same machine.
  const wallT0 = Date.now() - (performance.now() - run.t0);
  const wallEnd = Date.now() - (performance.now() - f.endAt);
  return {
    postToQueuedMs: round(queued! - wallT0),
    queuedToCreatingMs: round(creating! - queued!),
    creatingToConnectMs: round(connecting! - creating!),
    mkdirMs: round(created! - connecting!),
    createdToSyncMs: round(syncing! - created!),
    rsyncMs: round(synced! - syncing!),
    syncedToReadyMs: round(ready! - synced!),
    readyToEndEventMs: round(wallEnd - ready!),
  };
}

/** Where a destroy's time went: DELETE (client) → destroying (server) → worker starts → removed → destroyed → `end` (client). */
function destroyBreakdown(run: ManagerRun): DestroyBreakdown | null {
  const f = run.follow;
  if (!f || run.t0 === undefined) return null;
  const events = f.events;
  const lastIndex = (pred: (e: (typeof events)[number]) => boolean) => {
    for (let i = events.length - 1; i >= 0; i--) if (pred(events[i]!)) return i;
    return -1;
  };
  const iDestroying = lastIndex((e) => e.type === "state" && e.status === "destroying");
  if (iDestroying < 0) return null;
  const after = events.slice(iDestroying);
  const at = (pred: (e: (typeof events)[number]) => boolean) => {
    const e = after.find(pred);
    return e?.at ? Date.parse(e.at) : undefined;
  };
  const destroying = at((e) => e.type === "state" && e.status === "destroying");
  const removing = at((e) => e.type === "log" && !!e.message?.startsWith("Removing "));
  const removed = at((e) => e.type === "log" && !!(e.message?.startsWith("Removed ") || e.message?.includes("was already gone")));
  const destroyed = at((e) => e.type === "state" && e.status === "destroyed");
  if ([destroying, removing, removed, destroyed].some((v) => v === undefined)) return null;
  const wallT0 = Date.now() - (performance.now() - run.t0);
  const wallEnd = Date.now() - (performance.now() - f.endAt);
  return {
    deleteToDestroyingMs: round(destroying! - wallT0),
    destroyingToWorkerStartMs: round(removing! - destroying!),
    removeMs: round(removed! - removing!),
    removedToDestroyedMs: round(destroyed! - removed!),
    destroyedToEndEventMs: round(wallEnd - destroyed!),
  };
}

function medianBreakdown<T extends object>(list: T[]): T | null {
  if (list.length === 0) return null;
  const keys = Object.keys(list[0]!) as (keyof T)[];
  return Object.fromEntries(keys.map((k) => [k, round(median(list.map((b) => b[k] as number)))])) as T;
}

/** Opens or closes a window of bench/server-probe.mjs in the server (SIGURG), then waits `pauseMs`. */
async function signalServer(pid: number, pauseMs: number): Promise<void> {
  process.kill(pid, "SIGURG");
  await sleep(pauseMs);
}

async function measureCreateDestroy(s: Setup) {
  const create = { manager: [] as number[], script: [] as number[], paired: [] as number[] };
  const destroy = { manager: [] as number[], script: [] as number[], paired: [] as number[] };
  const breakdowns: CreateBreakdown[] = [];
  // CPU the app server (node itself with its spawner helper, not their rsync/ssh children) burns while each side runs: is the
  // server busy during a transfer, competing with rsync for the cores?
  const serverCpu = {
    duringManagerCreate: [] as number[],
    duringScriptCreate: [] as number[],
    rsyncChildrenDuringManagerCreate: [] as number[],
  };
  const pid = s.server.process.pid!;
  /** --windows: the server's CPU per thread name within each measured create (exact, from schedstat). */
  const threadWindows: Record<string, number>[] = [];
  /** --windows: the server's minor page faults within each measured create (what they cost: machine.pageFaultUs). */
  const faultWindows: number[] = [];
  const destroyBreakdowns: DestroyBreakdown[] = [];
  const failures: string[] = [];
  const total = s.opts.warmup + s.opts.runs;
  for (let i = 0; i < total; i++) {
    const warm = i < s.opts.warmup;
    // A: the manager, through the API.
    // --windows: the probe counts (and profiles) what the server does from here to cpuA1; the pauses
    // around let the profiler start and stop outside the CPU measured.
    const window = s.windowDir !== null && !warm;
    if (window) await signalServer(pid, 50);
    const threads0 = window ? threadCpuMs(pid) : null;
    const cpuA0 = serverProcStat(pid);
    const a = await managerCreate(s, warm);
    // rsync's CPU lands in the server's children time once the worker has reaped it; give it a moment.
    await sleep(100);
    const cpuA1 = serverProcStat(pid);
    if (threads0) threadWindows.push(threadCpuDelta(threads0, threadCpuMs(pid)));
    if (window) faultWindows.push(cpuA1.minorFaults - cpuA0.minorFaults);
    if (window) await signalServer(pid, 200);
    if (!a.ok || !a.vm) {
      failures.push(`manager create #${i}: ${a.error ?? "no VM"}`);
      if (a.id) await managerDestroy(s, a.id).catch(() => undefined);
      continue;
    }
    const bad = checkWorkspace(s, a.workspace);
    if (bad) failures.push(`manager create #${i}: ${bad}`);
    await sleep(200);
    // B: the script, on the same VM.
    const cpuB0 = serverProcStat(pid);
    const b = await scriptCreate(s, a.vm);
    const cpuB1 = serverProcStat(pid);
    if (!b.ok) failures.push(`script create #${i}: ${b.error}`);
    const badB = b.ok ? checkWorkspace(s, b.workspace) : null;
    if (badB) failures.push(`script create #${i}: ${badB}`);
    await sleep(200);
    const da = await managerDestroy(s, a.id!, warm);
    if (!da.ok) failures.push(`manager destroy #${i}: ${da.error}`);
    else if (a.workspace && fs.existsSync(a.workspace)) failures.push(`manager destroy #${i}: ${a.workspace} still exists`);
    await sleep(200);
    const dbRun = await scriptDestroy(s, a.vm, b.workspace!);
    if (!dbRun.ok) failures.push(`script destroy #${i}: ${dbRun.error}`);
    await sleep(200);
    if (warm) continue;
    if (a.ok && b.ok) {
      create.manager.push(a.ms);
      create.script.push(b.ms);
      create.paired.push(a.ms / b.ms);
      serverCpu.duringManagerCreate.push(cpuA1.selfMs - cpuA0.selfMs);
      serverCpu.rsyncChildrenDuringManagerCreate.push(cpuA1.childrenMs - cpuA0.childrenMs);
      serverCpu.duringScriptCreate.push(cpuB1.selfMs - cpuB0.selfMs);
      const br = breakdown(a);
      if (br) breakdowns.push(br);
    }
    if (da.ok && dbRun.ok) {
      destroy.manager.push(da.ms);
      destroy.script.push(dbRun.ms);
      destroy.paired.push(da.ms / dbRun.ms);
      const br = destroyBreakdown(da);
      if (br) destroyBreakdowns.push(br);
    }
    log(
      `run ${i - s.opts.warmup + 1}/${s.opts.runs} on ${a.vm.name}: create manager ${a.ms.toFixed(0)} ms / script ${b.ms.toFixed(0)} ms; ` +
        `destroy manager ${da.ms.toFixed(0)} ms / script ${dbRun.ms.toFixed(0)} ms`,
    );
  }
  return {
    create,
    destroy,
    serverCpu: {
      duringManagerCreateMs: summarize(serverCpu.duringManagerCreate),
      duringScriptCreateMs: summarize(serverCpu.duringScriptCreate),
      rsyncChildrenDuringManagerCreateMs: summarize(serverCpu.rsyncChildrenDuringManagerCreate),
    },
    threadWindows,
    faultWindows,
    breakdown: medianBreakdown(breakdowns),
    destroyBreakdown: medianBreakdown(destroyBreakdowns),
    failures,
  };
}

async function measureOverview(s: Setup) {
  const urls = { page: "/", api: "/api/v1/sandboxes" };
  const page: number[] = [];
  const api: number[] = [];
  const pageTtfb: number[] = [];
  let errors = 0;
  let pageBytes = 0;
  let apiBytes = 0;
  for (let i = 0; i < s.opts.requests; i++) {
    // Interleaved, one at a time: server response time, not throughput.
    const p = await s.api.timedGet(urls.page);
    const a = await s.api.timedGet(urls.api);
    if (p.status !== 200) errors++;
    if (a.status !== 200) errors++;
    page.push(p.ms);
    pageTtfb.push(p.ttfbMs);
    api.push(a.ms);
    pageBytes = p.bytes;
    apiBytes = a.bytes;
  }
  const apiList = (await (await fetch(`${s.api.url}${urls.api}`, { headers: { cookie: s.api.cookie } })).json()) as {
    total: number;
    counts: Record<string, number>;
  };
  return {
    page: summarize(page),
    pageTtfb: summarize(pageTtfb),
    api: summarize(api),
    errors,
    pageBytes,
    apiBytes,
    listed: apiList.total,
    counts: apiList.counts,
  };
}

interface QueryLine {
  method: string;
  url: string;
  status: number;
  statements: number;
  transactionControl: number;
  sql: string[];
}

async function countQueries(s: Setup, sampleId: string | undefined) {
  const targets = ["/", "/api/v1/sandboxes", ...(sampleId ? [`/api/v1/sandboxes/${sampleId}`] : [])];
  for (let i = 0; i < 3; i++) for (const u of targets) await s.api.timedGet(u, { "x-bench-count-queries": "1" });
  await sleep(300);
  return readQueryLog(s);
}

function readQueryLog(s: Setup): QueryLine[] {
  if (!fs.existsSync(s.queryLog)) return [];
  return fs
    .readFileSync(s.queryLog, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as QueryLine);
}

function queriesPerRoute(lines: QueryLine[]) {
  const out: Record<string, { requests: number; statements: number; transactionControl: number; sql: string[] }> = {};
  for (const l of lines) {
    const route = `${l.method} ${l.url.replace(/(\/sandboxes\/)[a-z][a-z0-9]{7,31}/, "$1{id}").replace(/\?.*$/, "")}`;
    const r = (out[route] ??= { requests: 0, statements: 0, transactionControl: 0, sql: l.sql });
    r.requests++;
    r.statements = Math.max(r.statements, l.statements);
    r.transactionControl = Math.max(r.transactionControl, l.transactionControl);
  }
  return out;
}

function countMaxStartupsDrops(vm: BuildVm): number {
  try {
    return fs
      .readFileSync(vm.logPath, "utf8")
      .split("\n")
      .filter((l) => /past MaxStartups|MaxStartups throttling/.test(l)).length;
  } catch {
    return 0;
  }
}

/**
 * Waits until every bench VM is `healthy` in the app's host registry, at most `timeoutMs`.
 * A burst over two hosts measures nothing useful while one is out of placement: on a loaded machine (a
 * CI running other suites beside the bench) the low-share VMs can miss a health check's 10 s handshake,
 * and the host then stays `unreachable` until its next check (SANDBOXER_HEALTH_INTERVAL, 1 min).
 */
async function waitForHealthyHosts(s: Setup, timeoutMs: number): Promise<{ waitedMs: number; unhealthy: string[] }> {
  const t0 = performance.now();
  let said = "";
  for (;;) {
    const hosts = await s.db.buildHost.findMany({
      where: { id: { startsWith: "bench-" }, health: { not: "healthy" } },
      select: { id: true, health: true, healthDetail: true },
    });
    const unhealthy = hosts.map((h) => `${h.id}: ${h.health}${h.healthDetail ? ` (${h.healthDetail})` : ""}`);
    const waitedMs = round(performance.now() - t0);
    if (unhealthy.length === 0 || waitedMs >= timeoutMs) return { waitedMs, unhealthy };
    if (unhealthy.join() !== said) log(`concurrency: waiting for the VMs to be healthy again: ${(said = unhealthy.join("; "))}`);
    await sleep(1_000);
  }
}

async function measureConcurrency(s: Setup) {
  const n = s.opts.concurrent;
  const health = await waitForHealthyHosts(s, 150_000);
  if (health.waitedMs > 1_000 || health.unhealthy.length)
    log(
      `concurrency: waited ${health.waitedMs} ms for healthy VMs${health.unhealthy.length ? `; still not: ${health.unhealthy.join("; ")}` : ""}`,
    );
  const peaks: Record<string, number> = Object.fromEntries(s.vms.vms.map((v) => [v.name, 0]));
  let rssPeak = 0;
  let rssPeakRoot = 0;
  let rssProcsAtPeak = 0;
  let tick = 0;
  const dropsBefore = Object.fromEntries(s.vms.vms.map((v) => [v.name, countMaxStartupsDrops(v)]));
  const sampler = startSampler(25, () => {
    for (const vm of s.vms.vms) peaks[vm.name] = Math.max(peaks[vm.name]!, childrenOf(vm.pid).length);
    if (tick++ % 4 === 0) {
      const r = treeRss(s.server.process.pid!);
      if (r.treeBytes > rssPeak) {
        rssPeak = r.treeBytes;
        rssProcsAtPeak = r.processes;
      }
      rssPeakRoot = Math.max(rssPeakRoot, r.rootBytes);
    }
  });
  const t0 = performance.now();
  const batch = Promise.all(
    Array.from({ length: n }, async () => {
      const posted = await s.api
        .create(PROFILE_ID)
        .catch((e: unknown) => ({ status: 0, error: describeFetchError(e), sandbox: undefined }));
      if (!posted.sandbox) return { ok: false, error: `POST ${posted.status}: ${posted.error}`, ms: performance.now() - t0 };
      try {
        const f = await s.api.follow(posted.sandbox.id, 600_000);
        const ok = f.final.status === "ready";
        return {
          ok,
          id: posted.sandbox.id,
          placed: f.events.find((e) => e.message?.startsWith("Placed on"))?.message,
          vm: vmFor(s, f.final)?.name,
          workspace: f.final.handle?.workspacePath,
          ms: f.endAt - t0,
          error: ok ? undefined : `${f.final.status}: ${f.final.statusReason}`,
        };
      } catch (e) {
        return { ok: false, id: posted.sandbox.id, error: (e as Error).message, ms: performance.now() - t0 };
      }
    }),
  );
  // While the batch runs: one more create at a time, each POST timed to its 202 (issue 20: "returns at
  // once" while many creates run). These are torn down with the batch.
  const probes = { ms: [] as number[], ids: [] as string[], failures: 0 };
  const probing = (async () => {
    await sleep(300);
    for (let i = 0; i < (s.opts.quick ? 4 : 20); i++) {
      const p0 = performance.now();
      const r = await s.api.create(PROFILE_ID).catch(() => null);
      if (r?.sandbox) {
        probes.ms.push(performance.now() - p0);
        probes.ids.push(r.sandbox.id);
      } else probes.failures++;
      await sleep(200);
    }
  })();
  const results = await batch;
  const wallMs = performance.now() - t0;
  await probing;
  const createPeaks = { ...peaks };
  for (const k of Object.keys(peaks)) peaks[k] = 0;
  const createRssPeak = rssPeak;

  // Every workspace complete?
  const incomplete = results.filter((r) => r.ok && checkWorkspace(s, "workspace" in r ? r.workspace : undefined)).length;
  const failures = results.filter((r) => !r.ok);
  const perHost: Record<string, number> = {};
  for (const r of results) if ("vm" in r && r.vm) perHost[r.vm] = (perHost[r.vm] ?? 0) + 1;

  // Tear them all down at once too.
  const d0 = performance.now();
  const ids = [...results.map((r) => ("id" in r ? r.id : undefined)).filter((x): x is string => !!x), ...probes.ids];
  const destroyed = await Promise.all(
    ids.map(async (id) => {
      try {
        const r = await s.api.destroy(id);
        if (!r.sandbox) return { ok: false, error: `DELETE ${r.status}: ${r.error}` };
        const f = await s.api.follow(id, 600_000);
        return {
          ok: f.final.status === "destroyed",
          error: f.final.status === "destroyed" ? undefined : `${f.final.status}: ${f.final.statusReason}`,
        };
      } catch (e) {
        return { ok: false, error: (e as Error).message };
      }
    }),
  );
  const destroyWallMs = performance.now() - d0;
  const samples = sampler.stop();
  const leftovers = s.vms.vms.reduce((acc, vm) => acc + fs.readdirSync(vm.workspaceRoot).filter((n) => n.startsWith("sbx-")).length, 0);
  const drops = Object.fromEntries(s.vms.vms.map((v) => [v.name, countMaxStartupsDrops(v) - dropsBefore[v.name]!]));
  return {
    creates: n,
    wallMs: round(wallMs),
    perCreateMs: summarize(results.map((r) => r.ms)),
    failures: failures.length + incomplete,
    failureReasons: failures.map((f) => f.error).slice(0, 10),
    incompleteWorkspaces: incomplete,
    sandboxesPerHost: perHost,
    // How long the part waited for both VMs to be healthy before its burst, and which were still not.
    hostsHealthyWaitMs: health.waitedMs,
    hostsNotHealthy: health.unhealthy,
    // Why the first and the last create of the batch went where they did (the placement log line).
    placementFirstLast: [results[0], results.at(-1)].map((r) => (r && "placed" in r ? r.placed : undefined) ?? null),
    peakConnectionsPerHost: createPeaks,
    peakConnectionsPerHostDuringDestroy: { ...peaks },
    sshdMaxStartupsLogLines: drops,
    acceptedWhileBusyMs: summarize(probes.ms),
    acceptedWhileBusyFailures: probes.failures,
    destroyWallMs: round(destroyWallMs),
    destroyFailures: destroyed.filter((d) => !d.ok).length,
    destroyFailureReasons: destroyed
      .filter((d) => !d.ok)
      .map((d) => d.error)
      .slice(0, 10),
    workspacesLeftBehind: leftovers,
    rssPeakMb: mb(Math.max(createRssPeak, rssPeak)),
    rssPeakServerMb: mb(rssPeakRoot),
    processesInTreeAtPeak: rssProcsAtPeak,
    samples,
  };
}

async function memorySnapshot(s: Setup): Promise<MemorySnapshot> {
  const pid = s.server.process.pid!;
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0) * 1024;
  const tree = treeRss(pid);
  const snap: MemorySnapshot = {
    rssMb: mb(kb("VmRSS")),
    treeMb: mb(tree.treeBytes),
    processes: tree.processes,
    rssAnonMb: mb(kb("RssAnon")),
    rssFileMb: mb(kb("RssFile")),
  };
  const before = fs.existsSync(s.memoryLog) ? fs.readFileSync(s.memoryLog, "utf8").length : 0;
  process.kill(pid, "SIGWINCH");
  for (let i = 0; i < 20; i++) {
    await sleep(50);
    const text = fs.existsSync(s.memoryLog) ? fs.readFileSync(s.memoryLog, "utf8") : "";
    if (text.length > before) {
      const m = JSON.parse(text.slice(before).trim().split("\n").pop()!) as {
        heapUsed: number;
        heapTotal: number;
        external: number;
        arrayBuffers: number;
        heapSpacesUsedMb: Record<string, number>;
      };
      Object.assign(snap, {
        heapUsedMb: mb(m.heapUsed),
        heapTotalMb: mb(m.heapTotal),
        externalMb: mb(m.external),
        arrayBuffersMb: mb(m.arrayBuffers),
        heapSpacesUsedMb: m.heapSpacesUsedMb,
      });
      break;
    }
  }
  return snap;
}

async function idleRss(s: Setup) {
  const tree: number[] = [];
  const root: number[] = [];
  for (let i = 0; i < (s.opts.quick ? 5 : 10); i++) {
    const r = treeRss(s.server.process.pid!);
    tree.push(r.treeBytes);
    root.push(r.rootBytes);
    await sleep(200);
  }
  return { treeMb: mb(median(tree)), serverMb: mb(median(root)), processes: treeRss(s.server.process.pid!).processes };
}

/** Destroy latency observed by polling GET /api/v1/sandboxes/{id} every 25 ms (independent of the event stream). */
async function measureDestroyPolled(s: Setup, runs: number) {
  const ms: number[] = [];
  const failures: string[] = [];
  for (let i = 0; i < runs; i++) {
    const a = await managerCreate(s);
    if (!a.ok || !a.id) {
      failures.push(`create for polled destroy #${i}: ${a.error}`);
      if (a.id) await managerDestroy(s, a.id).catch(() => undefined);
      continue;
    }
    await sleep(200);
    const t0 = performance.now();
    const del = await s.api.destroy(a.id);
    if (!del.sandbox) {
      failures.push(`polled destroy #${i}: DELETE ${del.status} ${del.error}`);
      continue;
    }
    let status = del.sandbox.status;
    while (status !== "destroyed" && status !== "destroy_failed" && performance.now() - t0 < 60_000) {
      await sleep(25);
      status = (await s.api.get(a.id)).status;
    }
    if (status === "destroyed") ms.push(performance.now() - t0);
    else failures.push(`polled destroy #${i}: ended ${status}`);
    await sleep(200);
  }
  return { ms: summarize(ms), failures };
}

async function takeHeapSnapshot(s: Setup): Promise<HeapSummary | null> {
  const list = () => (fs.existsSync(s.diagnosticDir) ? fs.readdirSync(s.diagnosticDir).filter((f) => f.endsWith(".heapsnapshot")) : []);
  const before = new Set(list());
  process.kill(s.server.process.pid!, "SIGUSR2");
  const deadline = performance.now() + 120_000;
  let lastSize = -1;
  while (performance.now() < deadline) {
    await sleep(500);
    const file = list().find((f) => !before.has(f));
    if (!file) continue;
    const size = fs.statSync(path.join(s.diagnosticDir, file)).size;
    if (size > 0 && size === lastSize) {
      const summary = summarizeHeapSnapshot(path.join(s.diagnosticDir, file));
      fs.rmSync(path.join(s.diagnosticDir, file), { force: true });
      return summary;
    }
    lastSize = size;
  }
  log("warning: no heap snapshot appeared within 120 s");
  return null;
}

// ─── main ────────────────────────────────────────────────────────────────────────────────────────

async function main(): Promise<number> {
  const parsed = parseOptions(process.argv.slice(2), REPO_ROOT);
  if (parsed === "help") {
    console.log(USAGE);
    return 0;
  }
  const opts = parsed;
  if (process.getuid?.() !== 0)
    throw new Error("the bench starts sshd and a test user on loopback: run it as root (as the integration tests do)");
  installCleanupHandlers();
  const machine = describeMachine();
  const ticksAtStart = cpuTicks();
  const started = performance.now();
  log(
    `sand-boxer bench: db ${opts.db}, ${opts.runs} runs, ${opts.files} files, ${opts.concurrent} concurrent creates, ${opts.sandboxes} seeded sandboxes${opts.quick ? " (quick)" : ""}`,
  );

  const s = await setUp(opts);
  machine.serverNode = s.server.node.version;
  const memoryAtBoot = await memorySnapshot(s);
  s.timings.settleMs = await settle(s);
  log(`maintenance settled after ${s.timings.settleMs} ms`);
  // Warm-up: the first requests load each route's code.
  for (let i = 0; i < 5; i++) for (const u of ["/", "/api/v1/sandboxes", "/profiles"]) await s.api.timedGet(u);
  await sleep(opts.quick ? 1_000 : 3_000);
  const rssIdle = await idleRss(s);
  const memoryIdle = await memorySnapshot(s);
  log(
    `server RSS idle: ${rssIdle.serverMb} MB (process tree ${rssIdle.treeMb} MB, ${rssIdle.processes} process(es)); at boot ${memoryAtBoot.rssMb} MB`,
  );
  if (opts.only === "create") return createOnly(s, machine, ticksAtStart);
  if (opts.only === "gateway") return gatewayOnly(s, machine, ticksAtStart);
  const heap = opts.heapSnapshot ? await takeHeapSnapshot(s) : null;
  if (heap)
    log(
      `heap snapshot: ${heap.totalMb} MB of objects; largest types ${heap.byType
        .slice(0, 4)
        .map((t) => `${t.type} ${t.mb} MB`)
        .join(", ")}`,
    );

  log(`overview: ${opts.requests} requests each to / and /api/v1/sandboxes`);
  const overview = await measureOverview(s);
  log(
    `overview p50 ${overview.page.median} ms p95 ${overview.page.p95} ms; API p50 ${overview.api.median} ms p95 ${overview.api.p95} ms (${overview.listed} listed)`,
  );
  const memoryAfterOverview = await memorySnapshot(s);

  log(`create/destroy: ${opts.warmup} warm-up + ${opts.runs} interleaved runs (manager, script, manager, script…)`);
  const cd = await measureCreateDestroy(s);

  const compose = await measureCompose(s, opts.quick ? 1 : Math.min(opts.runs, 5), log);

  log(`destroy latency, polled every 25 ms: ${opts.quick ? Math.min(2, opts.runs) : opts.runs} runs`);
  const polled = await measureDestroyPolled(s, opts.quick ? Math.min(2, opts.runs) : opts.runs);
  log(`destroy latency (polled): median ${polled.ms.median} ms, p95 ${polled.ms.p95} ms`);

  // --quick keeps this part near 20 s on a loaded machine (load 19: launch ~3 s, a run ~5 s): two runs
  // without a warm-up, fewer tabs (the cost is per process, not per tab: they share one stream) and one
  // short window each side.
  const dashboardRuns = opts.quick ? 2 : 20;
  const idleTabCount = opts.quick ? 5 : 20;
  log(`dashboard in Chromium: ${dashboardRuns} create/destroy runs on local sandboxes, then ${idleTabCount} idle overview tabs`);
  const dashboard: DashboardBench | null = await measureDashboard({
    url: s.server.url,
    cookie: s.api.cookie,
    readMetrics: async () => {
      const res = await fetch(`${s.server.url}/api/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      if (!res.ok) throw new Error(`GET /api/metrics: ${res.status}`);
      return res.text();
    },
    runs: dashboardRuns,
    tabs: idleTabCount,
    windowMs: opts.quick ? 2_000 : 5_000,
    warmUp: !opts.quick,
    windows: opts.quick ? 1 : 3,
    log,
  }).catch((e: unknown) => {
    log(`dashboard part failed: ${(e as Error).message}`);
    return null;
  });

  // A ready sandbox of its own on one of the bench's VMs (the seeded ones name hosts that do not exist),
  // for the per-route query counts and the gateway.
  const made = await managerCreate(s);
  const sample = made.ok && made.id ? { id: made.id } : null;
  if (!sample) log(`sample sandbox for the query counts and the gateway failed: ${made.error}`);
  const queryLines = await countQueries(s, sample?.id);
  const queries = queriesPerRoute(queryLines);

  log("CLI start-up beside node's own (the bundle the server serves, and bin/sandboxer.mjs)");
  const bench = await s.db.user.findUniqueOrThrow({ where: { email: "bench@bench.test" }, select: { id: true } });
  const cliStartup: CliStartupBench | null = await measureCliStartup({
    distDir: path.join(REPO_ROOT, process.env.SANDBOXER_DIST_DIR ?? ".next"),
    server: {
      url: s.server.url,
      token: (await createToken(s.db, bench.id, { name: "bench-cli", scopes: ["read"], expiresAt: new Date(Date.now() + 3_600_000) }))
        .token,
    },
    runs: opts.quick ? 3 : 10,
    log,
  }).catch((e: unknown) => {
    log(`CLI start-up part failed: ${(e as Error).message}`);
    return null;
  });

  let gateway: GatewayBench | null = null;
  if (sample) {
    log("ssh gateway vs direct OpenSSH to the same VM");
    gateway = await measureGateway({
      serverUrl: s.server.url,
      cookie: s.api.cookie,
      serverPid: s.server.process.pid,
      db: s.db,
      vms: s.vms,
      sandboxId: sample.id,
      tree: s.repo.dir,
      tmp: s.tmp,
      quick: opts.quick,
      log,
    }).catch((e: unknown) => {
      log(`ssh gateway part failed: ${(e as Error).message}`);
      return null;
    });
    await managerDestroy(s, sample.id).catch(() => undefined);
  }

  log(`concurrency: ${opts.concurrent} creates at once over ${s.vms.vms.length} hosts`);
  const conc = await measureConcurrency(s);
  log(
    `concurrency: ${conc.wallMs} ms wall, ${conc.failures} failure(s), peak sshd connections ${JSON.stringify(conc.peakConnectionsPerHost)}, RSS peak ${conc.rssPeakMb} MB`,
  );
  await sleep(opts.quick ? 500 : 2_000);
  const rssAfter = await idleRss(s);
  const memoryAfterConcurrency = await memorySnapshot(s);

  s.timings.totalMs = round(performance.now() - started);
  // Stop the server now (its CPU profile is written on exit), then summarise.
  await s.server.stop("SIGTERM");
  const profiles = keepCpuProfiles(opts, s.profileDir).map((f) => summarizeCpuProfile(f));
  finishMachine(machine, ticksAtStart);

  const createManager = summarize(cd.create.manager);
  const createScript = summarize(cd.create.script);
  const destroyManager = summarize(cd.destroy.manager);
  const destroyScript = summarize(cd.destroy.script);
  const pageQueries = queries["GET /"]?.statements ?? null;
  const apiQueries = queries["GET /api/v1/sandboxes"]?.statements ?? null;
  const results: BenchResults = {
    schemaVersion: 1,
    db: opts.db,
    quick: opts.quick,
    createRatio: ratio(createManager.median, createScript.median),
    overviewP95Ms: overview.page.p95,
    concurrentFailures: conc.failures,
    gatewayExecRatio: gateway?.execRatio ?? null,
    gatewayThroughputRatio: gateway?.throughputRatio ?? null,
    gatewayRsyncRatio: gateway?.rsyncRatio ?? null,
    gatewayEchoAddedMs: gateway?.echoAddedMs ?? null,
    gatewayConcurrentFailures: gateway?.concurrent.failures ?? null,
    gateway,
    cliVersionOverNodeMs: cliStartup?.cliVersionOverNodeMs ?? null,
    cliListOverNodeMs: cliStartup?.cliListOverNodeMs ?? null,
    cliStartup,
    destroyShownP95Ms: dashboard?.destroyShownMs.p95 ?? null,
    createShownP95Ms: dashboard?.createShownMs.p95 ?? null,
    idleTabsQueriesPerSec: dashboard?.idleTabs.queriesPerSec ?? null,
    dashboard,
    destroyLatencyMs: destroyManager.median,
    rssIdleMb: rssIdle.serverMb,
    destroyLatencyP95Ms: destroyManager.p95,
    destroyLatencyPolledMs: polled.ms.median,
    destroyLatencyPolledP95Ms: polled.ms.p95,
    destroyRatio: ratio(destroyManager.median, destroyScript.median),
    composeCreateRatio: compose.create.ratioOfMedians,
    composeDestroyRatio: compose.destroy.ratioOfMedians,
    overviewMedianMs: overview.page.median,
    apiListP95Ms: overview.api.p95,
    apiListMedianMs: overview.api.median,
    overviewQueriesPerRequest: pageQueries,
    apiListQueriesPerRequest: apiQueries,
    concurrentWallMs: conc.wallMs,
    createAcceptedWhileBusyP95Ms: conc.acceptedWhileBusyMs.p95,
    rssPeakMb: conc.rssPeakMb,
    create: {
      manager: createManager,
      script: createScript,
      ratioOfMedians: ratio(createManager.median, createScript.median),
      ratioP95: ratio(createManager.p95, createScript.p95),
      pairedRatioMedian: round(median(cd.create.paired), 2),
      breakdownMedianMs: cd.breakdown,
      serverCpu: cd.serverCpu,
      repository: { files: s.repo.files, bytes: s.repo.bytes },
    },
    destroy: {
      manager: destroyManager,
      script: destroyScript,
      ratioOfMedians: ratio(destroyManager.median, destroyScript.median),
      pairedRatioMedian: round(median(cd.destroy.paired), 2),
      breakdownMedianMs: cd.destroyBreakdown,
      polled: { ms: polled.ms, method: "DELETE, then GET /api/v1/sandboxes/{id} every 25 ms until status destroyed" },
      method: "DELETE /api/v1/sandboxes/{id} → `end` event of GET …/events (SSE, opened right after the 202) with status destroyed",
    },
    compose,
    runFailures: [...cd.failures, ...polled.failures, ...compose.failures, ...(dashboard?.failures ?? [])],
    clientNetworkRetries: s.api.networkRetries,
    concurrency: conc,
    overview: {
      sandboxesSeeded: opts.sandboxes,
      activeSeeded: opts.active,
      listedByDefault: overview.listed,
      counts: overview.counts,
      requestsPerUrl: opts.requests,
      page: overview.page,
      pageTtfb: overview.pageTtfb,
      api: overview.api,
      errors: overview.errors,
      pageBytes: overview.pageBytes,
      apiBytes: overview.apiBytes,
      queries,
      queryCountMethod:
        "Counted inside the running server by bench/server-probe.mjs (preloaded with NODE_OPTIONS=--import): each request marked " +
        "x-bench-count-queries runs in an AsyncLocalStorage context; better-sqlite3 Database#prepare / pg Client#query calls in that " +
        "context are counted (session lookup included; BEGIN/COMMIT counted separately; worker and maintenance statements excluded).",
    },
    memory: {
      rssIdleMb: rssIdle.serverMb,
      rssIdleTreeMb: rssIdle.treeMb,
      rssPeakMb: conc.rssPeakMb,
      rssPeakServerMb: conc.rssPeakServerMb,
      rssAfterConcurrencyMb: rssAfter.serverMb,
      snapshots: { boot: memoryAtBoot, idle: memoryIdle, afterOverview: memoryAfterOverview, afterConcurrency: memoryAfterConcurrency },
      method:
        "/proc/<pid>/statm resident pages; idle = median of 10 samples 200 ms apart after boot, maintenance settling and a warm-up (5 requests each to /, /api/v1/sandboxes, /profiles); peak = max of the whole server process tree (node + rsync/ssh children) sampled every 100 ms during the concurrency run",
    },
    cpuProfiles: profiles,
    heapSnapshot: heap,
    settings: {
      runs: opts.runs,
      warmupRuns: opts.warmup,
      files: opts.files,
      concurrent: opts.concurrent,
      hosts: s.vms.vms.length,
      sshdMaxStartups: "default (10:30:100)",
      workerConcurrency: "default (16)",
      workerPoll: "1s (default)",
      quotaActive: "0 (off: one account fires all creates)",
      serverCommand: "npm start's server.mjs (production build of this checkout)",
      serverEnv:
        Object.entries(opts.serverEnv)
          .map(([k, v]) => `${k}=${v}`)
          .join(" ") || "(none extra)",
      serverNodeFlags: opts.serverNodeFlags.join(" ") || "(none extra)",
    },
    timings: s.timings,
    vmCpu: s.vmCpu,
    machine,
  };
  Object.assign(
    results,
    await measurePools(
      { quick: opts.quick, db: "sqlite", files: opts.files, runs: opts.runs, concurrent: opts.concurrent, rttMs: 20, vmCpu: opts.vmCpu },
      log,
    ),
  );
  const targetsMet = renderAndWrite(opts, results);
  log(`results: ${path.relative(REPO_ROOT, path.join(opts.outDir, `${opts.name}.json`))} (${targetsMet})`);
  return 0;
}

/**
 * `--seasoned N`: N creates through the API, each followed to ready and destroyed, one after another —
 * a server that has run a while (V8 optimises what a create runs over its first hundred or so, see
 * docs/performance.md) before the measured ones. Any failure stops the bench: what follows would not
 * measure what it says.
 */
async function season(s: Setup, n: number): Promise<void> {
  log(`seasoning the server: ${n} creates, each to ready and destroyed`);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const a = await managerCreate(s);
    if (!a.ok || !a.id) throw new Error(`seasoning create #${i + 1}: ${a.error ?? "failed"}`);
    const d = await managerDestroy(s, a.id);
    if (!d.ok) throw new Error(`seasoning destroy #${i + 1}: ${d.error ?? "failed"}`);
  }
  log(`seasoned in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

/**
 * `--only create`: the create/destroy runs alone, for work on the server's CPU per create (a few minutes
 * instead of the whole bench). Writes <out>/<name>.json with the same `create.serverCpu` figures.
 */
async function createOnly(
  s: Setup,
  machine: ReturnType<typeof describeMachine>,
  ticksAtStart: ReturnType<typeof cpuTicks>,
): Promise<number> {
  const opts = s.opts;
  if (opts.seasoned > 0) await season(s, opts.seasoned);
  log(`create/destroy only: ${opts.warmup} warm-up + ${opts.runs} interleaved runs (manager, script, manager, script…)`);
  const cd = await measureCreateDestroy(s);
  const manager = summarize(cd.create.manager);
  const script = summarize(cd.create.script);
  // The probe wrote each window's statements and profile as it ended; the server's own profile comes at exit.
  const windows = s.windowDir
    ? {
        ...summarizeWindows(s.windowDir),
        threadsMs: summarizeThreads(cd.threadWindows),
        threadsMsPerWindow: cd.threadWindows.map((w) => Object.fromEntries(Object.entries(w).map(([k, v]) => [k, round(v)]))),
        minorFaults: summarize(cd.faultWindows),
      }
    : null;
  // The window profiles are summarised together (summarizeWindows), not one by one.
  if (s.windowDir && opts.cpuProf) keepCpuProfiles(opts, s.windowDir);
  const file = await finishPart(s, machine, ticksAtStart, (cpuProfiles) => ({
    only: "create",
    db: opts.db,
    files: opts.files,
    runs: opts.runs,
    warmup: opts.warmup,
    seasoned: opts.seasoned,
    serverCpuPerCreateMs: cd.serverCpu.duringManagerCreateMs.median,
    create: {
      manager,
      script,
      ratioOfMedians: ratio(manager.median, script.median),
      serverCpu: cd.serverCpu,
      breakdownMedianMs: cd.breakdown,
    },
    runFailures: cd.failures,
    windows,
    cpuProfiles,
  }));
  const cpu = cd.serverCpu.duringManagerCreateMs;
  log(
    `server CPU per create: median ${cpu.median} ms (p95 ${cpu.p95}, min ${cpu.min}, max ${cpu.max}); create manager ${manager.median} ms / script ${script.median} ms; ` +
      `load ${machine.loadAverageAtStart.join(" ")} → ${machine.loadAverageAtEnd?.join(" ")}; ` +
      `${describeVmCosts(machine)}; ${cd.failures.length} failure(s)`,
  );
  if (windows) {
    log(
      `server process CPU per create window by thread (schedstat, medians): ` +
        Object.entries(windows.threadsMs)
          .map(([name, v]) => `${name} ${v.median}`)
          .join(", "),
    );
    log(`server page faults per create window: ${describeFaults(windows.minorFaults, machine.pageFaultUs)}`);
    log(
      `statements per create window: ${windows.statements.median} median (${windows.statements.min}–${windows.statements.max}); most run:`,
    );
    for (const q of windows.topSql.slice(0, 10)) log(`  ${q.perWindow} × ${q.sql.slice(0, 110)}`);
    if (windows.sqlMs) {
      log(`SQLite execution per create window: ${windows.sqlMs.totalPerWindow} ms; the longest:`);
      for (const q of windows.sqlMs.top.slice(0, 8)) log(`  ${q.msPerWindow} ms (${q.perWindow} ×) ${q.sql.slice(0, 100)}`);
    }
    if (windows.profile)
      log(
        `main thread per create window (V8 profile): ${windows.profile.busyMs} ms busy; ` +
          windows.profile.modules
            .slice(0, 8)
            .map((m) => `${m.module} ${m.ms}`)
            .join(", "),
      );
  }
  log(`results: ${path.relative(REPO_ROOT, file)}`);
  return cd.failures.length === 0 ? 0 : 1;
}

/**
 * A one-part run's end: stops the server (its CPU profile is written on exit), summarises the profiles
 * and the machine, and writes `part` with them to <out>/<name>.json; returns the file.
 */
async function finishPart(
  s: Setup,
  machine: ReturnType<typeof describeMachine>,
  ticksAtStart: ReturnType<typeof cpuTicks>,
  part: (cpuProfiles: ReturnType<typeof summarizeCpuProfile>[]) => Record<string, unknown>,
): Promise<string> {
  const opts = s.opts;
  await s.server.stop("SIGTERM");
  const profiles = keepCpuProfiles(opts, s.profileDir).map((f) => summarizeCpuProfile(f));
  finishMachine(machine, ticksAtStart);
  const results = { ...part(profiles), serverEnv: opts.serverEnv, serverNodeFlags: opts.serverNodeFlags, machine };
  fs.mkdirSync(opts.outDir, { recursive: true });
  const file = path.join(opts.outDir, `${opts.name}.json`);
  fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  return file;
}

/** --only gateway: the gateway part alone, on a sandbox of its own, against a server seeded as for the whole bench. */
async function gatewayOnly(
  s: Setup,
  machine: ReturnType<typeof describeMachine>,
  ticksAtStart: ReturnType<typeof cpuTicks>,
): Promise<number> {
  const opts = s.opts;
  const made = await managerCreate(s);
  if (!made.ok || !made.id) throw new Error(`the gateway's sandbox could not be created: ${made.error}`);
  log("ssh gateway vs direct OpenSSH to the same VM");
  const gateway = await measureGateway({
    serverUrl: s.server.url,
    cookie: s.api.cookie,
    serverPid: s.server.process.pid,
    db: s.db,
    vms: s.vms,
    sandboxId: made.id,
    tree: s.repo.dir,
    tmp: s.tmp,
    quick: opts.quick,
    log,
  });
  await managerDestroy(s, made.id);
  const file = await finishPart(s, machine, ticksAtStart, (cpuProfiles) => ({ only: "gateway", db: opts.db, gateway, cpuProfiles }));
  log(`load ${machine.loadAverageAtStart.join(" ")} → ${machine.loadAverageAtEnd?.join(" ")}; results: ${path.relative(REPO_ROOT, file)}`);
  return 0;
}

/** Copies the .cpuprofile files in `dir` to <out>/<name>-cpuprofile/ (git-ignored); returns their paths in `dir`. */
function keepCpuProfiles(opts: BenchOptions, dir: string | null): string[] {
  if (!dir || !fs.existsSync(dir)) return [];
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"));
  if (files.length === 0) return [];
  const keep = path.join(opts.outDir, `${opts.name}-cpuprofile`);
  fs.mkdirSync(keep, { recursive: true });
  for (const f of files) fs.copyFileSync(path.join(dir, f), path.join(keep, f));
  log(`CPU profiles copied to ${path.relative(REPO_ROOT, keep)}`);
  return files.map((f) => path.join(dir, f));
}

/** Per thread name (and "total"): the CPU ms of each window, summarised. */
function summarizeThreads(windows: Record<string, number>[]): Record<string, Summary> {
  const names = new Set(windows.flatMap((w) => Object.keys(w)));
  const out: Record<string, Summary> = {
    total: summarize(windows.map((w) => Object.values(w).reduce((a, b) => a + b, 0))),
  };
  for (const name of [...names].sort()) out[name] = summarize(windows.map((w) => w[name] ?? 0));
  return out;
}

/** What bench/server-probe.mjs wrote for each create window: statements (by SQL text) and, when profiled, where the main thread went. */
function summarizeWindows(dir: string) {
  const files = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  const counts = files
    .filter((f) => f.endsWith(".json"))
    .map(
      (f) =>
        JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as {
          statements: number;
          bySql: { count: number; ms?: number; sql: string }[];
          sequence?: [number, string][];
        },
    );
  const bySql = new Map<string, number>();
  const msBySql = new Map<string, number>();
  for (const w of counts)
    for (const q of w.bySql) {
      bySql.set(q.sql, (bySql.get(q.sql) ?? 0) + q.count);
      if (q.ms !== undefined) msBySql.set(q.sql, (msBySql.get(q.sql) ?? 0) + q.ms);
    }
  const n = Math.max(1, counts.length);
  // Every module (not a top few), so their sum is the main thread's busy time in the windows.
  const profiles = files.filter((f) => f.endsWith(".cpuprofile")).map((f) => summarizeCpuProfile(path.join(dir, f), 10_000));
  const modules = new Map<string, number>();
  let busy = 0;
  for (const p of profiles) {
    for (const m of p.topModules) {
      modules.set(m.module, (modules.get(m.module) ?? 0) + m.selfMs);
      busy += m.selfMs;
    }
  }
  return {
    windows: counts.length,
    statements: summarize(counts.map((w) => w.statements)),
    // One window whose count is the median, its statements in the order they ran ([ms since it opened, SQL]).
    medianWindowSequence:
      counts.find(
        (w) =>
          w.statements ===
          percentile(
            counts.map((c) => c.statements),
            50,
          ),
      )?.sequence ?? null,
    topSql: [...bySql.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 30)
      .map(([sql, count]) => ({ perWindow: round(count / n, 1), sql })),
    // SQLite only: the time each statement's executions took on the main thread, most first.
    sqlMs:
      msBySql.size === 0
        ? null
        : {
            totalPerWindow: round([...msBySql.values()].reduce((a, b) => a + b, 0) / n, 2),
            top: [...msBySql.entries()]
              .sort((a, b) => b[1] - a[1])
              .slice(0, 15)
              .map(([sql, ms]) => ({ msPerWindow: round(ms / n, 2), perWindow: round((bySql.get(sql) ?? 0) / n, 1), sql })),
          },
    profile:
      profiles.length === 0
        ? null
        : {
            windows: profiles.length,
            busyMs: round(busy / profiles.length),
            modules: [...modules.entries()]
              .sort((a, b) => b[1] - a[1])
              .map(([module, ms]) => ({ module, ms: round(ms / profiles.length, 1) })),
          },
  };
}

function renderAndWrite(opts: BenchOptions, results: BenchResults): string {
  fs.mkdirSync(opts.outDir, { recursive: true });
  const jsonFile = path.join(opts.outDir, `${opts.name}.json`);
  const mdFile = path.join(opts.outDir, `${opts.name}.md`);
  // Written next to the target and renamed: an interrupted run never leaves half a results file.
  fs.writeFileSync(`${jsonFile}.tmp`, JSON.stringify(results, null, 2) + "\n");
  fs.renameSync(`${jsonFile}.tmp`, jsonFile);
  const md = renderMarkdown(results);
  fs.writeFileSync(`${mdFile}.tmp`, md);
  fs.renameSync(`${mdFile}.tmp`, mdFile);
  console.log("\n" + md);
  return results.runFailures.length ? `${results.runFailures.length} run failure(s)` : "no run failures";
}

main().then(
  async (code) => {
    await runCleanup();
    process.exit(code);
  },
  async (e: unknown) => {
    console.error(`bench failed: ${(e as Error).stack ?? String(e)}`);
    await runCleanup();
    process.exit(1);
  },
);
