// Command-line options of `npm run bench -- …`.
import path from "node:path";
import { parseArgs } from "node:util";

export interface BenchOptions {
  db: "sqlite" | "postgres";
  runs: number;
  warmup: number;
  files: number;
  concurrent: number;
  sandboxes: number;
  active: number;
  requests: number;
  quick: boolean;
  cpuProf: boolean;
  heapSnapshot: boolean;
  /**
   * Run one part alone instead of the whole bench: `create` (the create/destroy runs, for CPU work) or
   * `gateway` (the SSH gateway against direct OpenSSH, for work on the relay).
   */
  only: "create" | "gateway" | null;
  /** With --only create: count statements (and with --cpu-prof, profile) only within each measured create. */
  windows: boolean;
  /**
   * With --only create: this many quick creates (create, ready, destroy, one after another, no script
   * beside them) before the warm-ups and the measured runs, so these measure a server that has run a while.
   */
  seasoned: number;
  /** The build VMs' CPU: a low share (default: they stand for other machines) or shared with the server. */
  vmCpu: "low" | "shared";
  /** Extra environment for the app server (what-if runs: MALLOC_ARENA_MAX=2, a product setting…). */
  serverEnv: Record<string, string>;
  /** Extra Node/V8 flags for the app server, after npm start's (what-if runs: --no-flush-bytecode…). */
  serverNodeFlags: string[];
  outDir: string;
  /** Results file names without extension: latest (sqlite) or latest-postgres. */
  name: string;
  repoRoot: string;
}

export const USAGE = `npm run bench -- [options]

  --runs N          create/destroy runs per side, interleaved (default 10; --quick: 2)
  --warmup N        create/destroy pairs before the measured runs (default 1)
  --db KIND         sqlite (embedded, default) or postgres (a throw-away database on 127.0.0.1:5432)
  --quick           a reduced configuration (200 files, 8 concurrent creates, 500 seeded sandboxes,
                    20 overview requests, 2 runs, shorter idle waits): a smoke run of the whole bench in about 30 s
  --files N         files in the generated repository (default 2000)
  --concurrent N    creates fired at once in the concurrency run (default 50)
  --sandboxes N     sandboxes seeded for the overview (default 10000; --active N of them active, default 500)
  --requests N      requests per overview URL (default 100)
  --cpu-prof        profile the app server's CPU (V8 sampling profiler, as node --cpu-prof) and summarise where its
                    time went; the .cpuprofile files go to <out>/<name>-cpuprofile/ (git-ignored)
  --only create     only the create/destroy runs (with their server CPU per create), for CPU work: a few minutes
                    instead of the whole bench; results go to <out>/create-only.json unless --name says otherwise
  --only gateway    only the SSH gateway against direct OpenSSH (exec, bytes through cat, rsync, echo, concurrent
                    sessions) on one sandbox: about two minutes; results go to <out>/gateway-only.json
  --windows         with --only create: count every statement the server runs within each measured create (its
                    window: POST to ready and 100 ms after), and with --cpu-prof profile only those windows
  --seasoned N      with --only create: N quick creates (each to ready, then destroyed) before the warm-ups, so the
                    measured ones see a server that has run a while, its JIT settled (default 0: a fresh server)
  --heap-snapshot   take a heap snapshot of the server when idle and summarise what its heap holds
  --vms-cpu KIND    low (default): the loopback build VMs run in a CPU control group with a small share, as the
                    other machines they stand for; shared: beside the server at its priority (their rsync
                    receivers then take most of two cores)
  --server-env K=V  extra environment for the app server (repeatable), for what-if runs
  --server-flag=F   an extra Node/V8 flag for the app server after npm start's (repeatable; with "=", as the
                    flag begins with "--"), for what-if runs: --server-flag=--no-memory-reducer
  --out DIR         where results go (default bench/results); files latest.{json,md} (latest-postgres.* with --db postgres)
  --name NAME       results file name without extension (overrides the default above)
  -h, --help        this text
`;

/** `--<name>`'s whole number, at least `min`; `fallback` when it is absent. */
export function positiveInt(name: string, raw: string | undefined, fallback: number, min = 1): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number ≥ ${min}, not ${JSON.stringify(raw)}`);
  return n;
}

export function parseOptions(argv: string[], repoRoot: string): BenchOptions | "help" {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: "string" },
      warmup: { type: "string" },
      db: { type: "string", default: "sqlite" },
      quick: { type: "boolean", default: false },
      files: { type: "string" },
      concurrent: { type: "string" },
      sandboxes: { type: "string" },
      active: { type: "string" },
      requests: { type: "string" },
      "cpu-prof": { type: "boolean", default: false },
      "heap-snapshot": { type: "boolean", default: false },
      only: { type: "string" },
      windows: { type: "boolean", default: false },
      seasoned: { type: "string" },
      "server-env": { type: "string", multiple: true, default: [] },
      "server-flag": { type: "string", multiple: true, default: [] },
      "vms-cpu": { type: "string", default: "low" },
      out: { type: "string" },
      name: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) return "help";
  const db = values.db === "postgres" || values.db === "postgresql" ? "postgres" : values.db === "sqlite" ? "sqlite" : null;
  if (!db) throw new Error(`--db must be sqlite or postgres, not ${JSON.stringify(values.db)}`);
  const quick = values.quick ?? false;
  if (values.only !== undefined && values.only !== "create" && values.only !== "gateway")
    throw new Error(`--only must be create or gateway, not ${JSON.stringify(values.only)}`);
  const only = values.only ?? null;
  if (values.windows && only !== "create") throw new Error("--windows needs --only create");
  const seasoned = positiveInt("seasoned", values.seasoned, 0, 0);
  if (seasoned > 0 && only !== "create") throw new Error("--seasoned needs --only create");
  const vmCpu = values["vms-cpu"];
  if (vmCpu !== "low" && vmCpu !== "shared") throw new Error(`--vms-cpu must be low or shared, not ${JSON.stringify(vmCpu)}`);
  const sandboxes = positiveInt("sandboxes", values.sandboxes, quick ? 500 : 10_000, 0);
  const active = positiveInt("active", values.active, quick ? 25 : 500, 0);
  if (active > sandboxes) throw new Error("--active must not exceed --sandboxes");
  return {
    db,
    runs: positiveInt("runs", values.runs, quick ? 2 : 10),
    warmup: positiveInt("warmup", values.warmup, 1, 0),
    files: positiveInt("files", values.files, quick ? 200 : 2_000, 2),
    concurrent: positiveInt("concurrent", values.concurrent, quick ? 8 : 50),
    sandboxes,
    active,
    requests: positiveInt("requests", values.requests, quick ? 20 : 100),
    quick,
    cpuProf: values["cpu-prof"] ?? false,
    heapSnapshot: values["heap-snapshot"] ?? false,
    only,
    windows: values.windows ?? false,
    seasoned,
    vmCpu,
    serverEnv: Object.fromEntries(
      (values["server-env"] ?? []).map((kv) => {
        const i = kv.indexOf("=");
        if (i <= 0) throw new Error(`--server-env needs KEY=VALUE, not ${JSON.stringify(kv)}`);
        return [kv.slice(0, i), kv.slice(i + 1)];
      }),
    ),
    serverNodeFlags: serverNodeFlags(values["server-flag"] ?? []),
    outDir: path.resolve(repoRoot, values.out ?? "bench/results"),
    name: values.name ?? (only ? `${only}-only${db === "postgres" ? "-postgres" : ""}` : db === "postgres" ? "latest-postgres" : "latest"),
    repoRoot,
  };
}

/** `--server-flag` values, each checked to be one Node/V8 flag (the bench and bench/idle-memory.ts). */
export function serverNodeFlags(flags: readonly string[]): string[] {
  return flags.map((f) => {
    if (!/^--[a-z0-9_-]+(=\S+)?$/.test(f))
      throw new Error(`--server-flag needs one Node/V8 flag such as --no-memory-reducer, not ${JSON.stringify(f)}`);
    return f;
  });
}
