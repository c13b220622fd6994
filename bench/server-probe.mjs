// Benchmark probe, preloaded into the app server only by `npm run bench` (NODE_OPTIONS=--import …).
// It counts the database statements each HTTP request causes, without touching product code:
//   - every request to the server runs inside an AsyncLocalStorage context (http.Server 'request');
//   - better-sqlite3's Statement run/get/all/iterate (each execution of a statement Prisma's SQLite
//     adapter prepared, or took from the app's statement cache) and pg's Client.prototype.query (what
//     Prisma's PostgreSQL adapter calls) count the statement against the context they run in.
//     Statements of the worker, the maintenance loop and anything else outside a request have no
//     context and are not counted.
// A request opts in with the header `x-bench-count-queries: 1`; when it finishes, one JSON line
// {url, method, status, statements, transactionControl, sql[]} is appended to $SANDBOXER_BENCH_QUERY_LOG.
// Next.js reaches both drivers through symlinks to node_modules, so they are the modules required here.
import { AsyncLocalStorage } from "node:async_hooks";
import fs from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import path from "node:path";

const logFile = process.env.SANDBOXER_BENCH_QUERY_LOG;
const als = new AsyncLocalStorage();
const TX_CONTROL = /^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|DEALLOCATE)\b/i;

// Windows (`npm run bench -- --only create --windows`): `kill -URG <server pid>` opens a window and the
// next one closes it. Every statement the process runs inside a window is counted by its SQL text (the
// worker's and the maintenance's too, not only requests'), and with $SANDBOXER_BENCH_WINDOW_PROFILE=1 the
// V8 profiler runs only inside windows. Each window is written to $SANDBOXER_BENCH_WINDOW_DIR as
// window-<n>.json (and window-<n>.cpuprofile).
const windowDir = process.env.SANDBOXER_BENCH_WINDOW_DIR;
/** SQL text → executions in the open window (null: no window open). */
let windowCounts = null;
/** SQL text → milliseconds its SQLite executions took in the open window (better-sqlite3 runs them synchronously, on the main thread). */
let windowMs = new Map();
/** The open window's statements in the order they ran: [ms since the window opened, SQL (first 160 characters)]. */
let windowSequence = [];
let windowOpenedAt = 0;

function sqlText(sql) {
  return typeof sql === "string" ? sql : sql && typeof sql.text === "string" ? sql.text : String(sql);
}

function windowKey(sql) {
  return sqlText(sql).replace(/\s+/g, " ").slice(0, 400);
}

/** Counts one execution; returns its window key while a window is open (null otherwise). */
function count(sql) {
  let key = null;
  if (windowCounts) {
    key = windowKey(sql);
    windowCounts.set(key, (windowCounts.get(key) ?? 0) + 1);
    windowSequence.push([Math.round(performance.now() - windowOpenedAt), key.slice(0, 160)]);
  }
  const ctx = als.getStore();
  if (!ctx) return key;
  const text = sqlText(sql);
  if (TX_CONTROL.test(text)) ctx.transactionControl++;
  else {
    ctx.statements++;
    if (ctx.sql.length < 50) ctx.sql.push(text.replace(/\s+/g, " ").slice(0, 300));
  }
  return key;
}

if (logFile || windowDir) {
  const require = createRequire(path.join(process.cwd(), "package.json"));
  try {
    // Each execution, not each prepare: the app keeps prepared statements for reuse (lib/db/statement-cache.ts).
    const Database = require("better-sqlite3");
    // The addon the app's connections use (lib/db/sqlite-binding.ts), so its Statement is the one patched.
    const binding = process.env.SANDBOXER_SQLITE_BINDING;
    const scratch = new Database(":memory:", binding ? { nativeBinding: binding } : {});
    const Statement = Object.getPrototypeOf(scratch.prepare("SELECT 1"));
    scratch.close();
    for (const method of ["run", "get", "all", "iterate"]) {
      const original = Statement[method];
      Statement[method] = function countedExecution(...args) {
        const key = count(this.source);
        if (key === null) return original.apply(this, args);
        const t0 = performance.now();
        try {
          return original.apply(this, args);
        } finally {
          windowMs.set(key, (windowMs.get(key) ?? 0) + performance.now() - t0);
        }
      };
    }
  } catch {
    // Not installed: nothing to count on SQLite.
  }
  try {
    const pg = require("pg");
    const query = pg.Client.prototype.query;
    pg.Client.prototype.query = function countedQuery(config, ...rest) {
      count(config);
      return query.call(this, config, ...rest);
    };
  } catch {
    // Not installed: nothing to count on PostgreSQL.
  }
}

if (logFile) {
  const emit = http.Server.prototype.emit;
  http.Server.prototype.emit = function emitWithContext(event, ...args) {
    if (event !== "request") return emit.call(this, event, ...args);
    const [req, res] = args;
    if (req.headers["x-bench-count-queries"] !== "1") return emit.call(this, event, ...args);
    const ctx = { statements: 0, transactionControl: 0, sql: [] };
    res.once("close", () => {
      const line = JSON.stringify({ method: req.method, url: req.url, status: res.statusCode, ...ctx });
      fs.appendFileSync(logFile, line + "\n");
    });
    return als.run(ctx, () => emit.call(this, event, ...args));
  };
}

// `kill -WINCH <server pid>` appends the process's own view of its memory to $SANDBOXER_BENCH_MEMORY_LOG:
// V8 heap (used/total, per space), external and array buffers — what /proc's RSS is made of.
const memoryLog = process.env.SANDBOXER_BENCH_MEMORY_LOG;
if (memoryLog) {
  const v8 = await import("node:v8");
  process.on("SIGWINCH", () => {
    const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, Math.round(s.space_used_size / 2 ** 20)]));
    const line = { at: new Date().toISOString(), ...process.memoryUsage(), heapSpacesUsedMb: spaces };
    fs.appendFileSync(memoryLog, JSON.stringify(line) + "\n");
  });
}

// CPU profile of the whole server run (`--cpu-prof` cannot go through NODE_OPTIONS): the V8 profiler
// through node:inspector, started here and written as <dir>/server-<pid>.cpuprofile when the process
// exits (the same-thread inspector session answers synchronously, so an exit handler can stop it).
const cpuProfileDir = process.env.SANDBOXER_BENCH_CPU_PROFILE_DIR;
if (cpuProfileDir) {
  const inspector = await import("node:inspector");
  const session = new inspector.Session();
  session.connect();
  session.post("Profiler.enable");
  session.post("Profiler.setSamplingInterval", { interval: 1000 });
  session.post("Profiler.start");
  process.on("exit", () => {
    session.post("Profiler.stop", (err, result) => {
      if (err || !result) return;
      fs.mkdirSync(cpuProfileDir, { recursive: true });
      fs.writeFileSync(path.join(cpuProfileDir, `server-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}

if (windowDir) {
  const inspector = await import("node:inspector");
  const profile = process.env.SANDBOXER_BENCH_WINDOW_PROFILE === "1";
  // "heap": V8's sampling heap profiler instead, counting every allocation, collected or not.
  const heapProfile = process.env.SANDBOXER_BENCH_WINDOW_PROFILE === "heap";
  const session = new inspector.Session();
  session.connect();
  if (profile) {
    session.post("Profiler.enable");
    session.post("Profiler.setSamplingInterval", { interval: 1000 });
  }
  if (heapProfile) session.post("HeapProfiler.enable");
  let n = 0;
  process.on("SIGURG", () => {
    if (!windowCounts) {
      windowCounts = new Map();
      windowMs = new Map();
      windowSequence = [];
      windowOpenedAt = performance.now();
      if (profile) session.post("Profiler.start");
      if (heapProfile)
        session.post("HeapProfiler.startSampling", {
          samplingInterval: 4096,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: true,
        });
      return;
    }
    const counts = windowCounts;
    windowCounts = null;
    const i = n++;
    fs.mkdirSync(windowDir, { recursive: true });
    const bySql = [...counts.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([sql, count]) => ({ count, ...(windowMs.has(sql) ? { ms: Math.round(windowMs.get(sql) * 1000) / 1000 } : {}), sql }));
    fs.writeFileSync(
      path.join(windowDir, `window-${i}.json`),
      JSON.stringify({ statements: bySql.reduce((a, b) => a + b.count, 0), bySql, sequence: windowSequence }),
    );
    if (profile)
      session.post("Profiler.stop", (err, result) => {
        if (!err && result) fs.writeFileSync(path.join(windowDir, `window-${i}.cpuprofile`), JSON.stringify(result.profile));
      });
    if (heapProfile)
      session.post("HeapProfiler.stopSampling", (err, result) => {
        if (err || !result) return;
        const dir = process.env.SANDBOXER_BENCH_WINDOW_HEAP_DIR ?? windowDir;
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(path.join(dir, `window-${i}.heapprofile`), JSON.stringify(result.profile));
      });
  });
}
