// Process facts from /proc: children, process trees, resident memory, and the samplers the
// concurrency run uses (sshd connections per VM every ~25 ms, server RSS every ~100 ms).
import fs from "node:fs";

const PAGE_SIZE = 4096;

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return null;
  }
}

let childrenFileWorks: boolean | undefined;

/** Direct children of pid: /proc/<pid>/task/<tid>/children when the kernel has it, else a /proc scan. */
export function childrenOf(pid: number): number[] {
  if (childrenFileWorks === undefined) childrenFileWorks = readText(`/proc/self/task/${process.pid}/children`) !== null;
  if (childrenFileWorks) {
    let tids: string[];
    try {
      tids = fs.readdirSync(`/proc/${pid}/task`);
    } catch {
      return [];
    }
    const out: number[] = [];
    for (const tid of tids) {
      const text = readText(`/proc/${pid}/task/${tid}/children`);
      if (text) for (const p of text.trim().split(/\s+/)) if (p) out.push(Number(p));
    }
    return out;
  }
  const out: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readText(`/proc/${entry}/stat`);
    if (!stat) continue;
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppid === pid) out.push(Number(entry));
  }
  return out;
}

/** pid and all its descendants. */
export function processTree(pid: number): number[] {
  const out: number[] = [];
  const queue = [pid];
  const seen = new Set<number>();
  while (queue.length > 0) {
    const p = queue.shift()!;
    if (seen.has(p)) continue;
    seen.add(p);
    if (readText(`/proc/${p}/statm`) === null) continue;
    out.push(p);
    queue.push(...childrenOf(p));
  }
  return out;
}

/** Resident set size of one process in bytes (0 when it is gone). */
export function rssBytes(pid: number): number {
  const statm = readText(`/proc/${pid}/statm`);
  if (!statm) return 0;
  return Number(statm.split(" ")[1] ?? 0) * PAGE_SIZE;
}

/**
 * Where a process's resident memory is, in MB: `brkHeap` is the C heap's main arena (glibc's
 * [heap] mapping — what native code mallocs), `anon` every anonymous mapping (V8's heap and code, the
 * other malloc arenas, thread stacks), `file` mapped files (the node binary, native addons).
 */
export function residentBreakdownMb(pid: number): { brkHeap: number; anon: number; file: number } | null {
  const smaps = readText(`/proc/${pid}/smaps`);
  const status = readText(`/proc/${pid}/status`);
  if (!smaps || !status) return null;
  let brkHeapKb = 0;
  let inHeap = false;
  for (const line of smaps.split("\n")) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inHeap = line.trimEnd().endsWith("[heap]");
    else if (inHeap && line.startsWith("Rss:")) brkHeapKb += Number(line.split(/\s+/)[1] ?? 0);
  }
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
  const mb = (k: number) => Math.round((k / 1024) * 10) / 10;
  return { brkHeap: mb(brkHeapKb), anon: mb(kb("RssAnon")), file: mb(kb("RssFile")) };
}

export interface TreeRss {
  /** The root process alone. */
  rootBytes: number;
  /** Sum over the tree (shared pages are counted once per process, as ps does). */
  treeBytes: number;
  processes: number;
}

export function treeRss(pid: number): TreeRss {
  const tree = processTree(pid);
  let treeBytes = 0;
  for (const p of tree) treeBytes += rssBytes(p);
  return { rootBytes: rssBytes(pid), treeBytes, processes: tree.length };
}

export const mb = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;

/** Runs `sample` every `everyMs` (setInterval; skipped ticks are not made up) until stopped. */
export function startSampler(everyMs: number, sample: () => void): { stop(): number } {
  let samples = 0;
  const tick = () => {
    samples++;
    sample();
  };
  tick();
  const timer = setInterval(tick, everyMs);
  return {
    stop() {
      clearInterval(timer);
      tick();
      return samples;
    },
  };
}

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux (getconf CLK_TCK)

/** What /proc/<pid>/stat counts for a process so far (all its threads): CPU time and minor page faults. */
export interface ProcStat {
  /** Its own CPU time (user + system), ms. */
  selfMs: number;
  /** The CPU time of its reaped children (rsync, ssh…), ms. */
  childrenMs: number;
  /** Minor page faults. */
  minorFaults: number;
}

/** A process's counters so far (all zero when it is gone). */
export function procStat(pid: number): ProcStat {
  const stat = readText(`/proc/${pid}/stat`);
  if (!stat) return { selfMs: 0, childrenMs: 0, minorFaults: 0 };
  // Fields after the command name: state(3) ppid(4) … minflt(10) … utime(14) stime(15) cutime(16) cstime(17).
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const field = (i: number) => Number(f[i - 3] ?? 0);
  const toMs = (t: number) => (t * 1000) / CLOCK_TICKS_PER_SECOND;
  return { selfMs: toMs(field(14) + field(15)), childrenMs: toMs(field(16) + field(17)), minorFaults: field(10) };
}

/**
 * The app server's counters with its spawner helper's (lib/ssh/spawner.ts: rsync is the helper's child, and
 * the helper's own relaying is server work): self = server + helper, children = what both reaped.
 */
export function serverProcStat(pid: number): ProcStat {
  const total = procStat(pid);
  for (const child of childrenOf(pid)) {
    if (!(readText(`/proc/${child}/cmdline`) ?? "").includes("spawner-child")) continue;
    const helper = procStat(child);
    total.selfMs += helper.selfMs;
    total.childrenMs += helper.childrenMs;
    total.minorFaults += helper.minorFaults;
  }
  return total;
}

/**
 * CPU time of each thread of a process so far, in ms, from /proc/<pid>/task/<tid>/schedstat (time on a
 * CPU in ns: exact, where /proc/<pid>/stat counts 10 ms ticks), keyed by thread id with its name
 * ("node" is the main thread; V8's helpers are "V8 DefaultWorke…", libuv's pool "libuv-worker").
 */
export function threadCpuMs(pid: number): Map<string, { name: string; ms: number }> {
  const out = new Map<string, { name: string; ms: number }>();
  let tids: string[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    const sched = readText(`/proc/${pid}/task/${tid}/schedstat`);
    const name = (readText(`/proc/${pid}/task/${tid}/comm`) ?? "?").trim();
    if (!sched) continue;
    out.set(tid, { name: tid === String(pid) ? "main" : name, ms: Number(sched.split(" ")[0]) / 1e6 });
  }
  return out;
}

/** Per thread name: CPU ms between two threadCpuMs readings (threads born in between count from 0). */
export function threadCpuDelta(
  before: Map<string, { name: string; ms: number }>,
  after: Map<string, { name: string; ms: number }>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [tid, t] of after) out[t.name] = (out[t.name] ?? 0) + t.ms - (before.get(tid)?.ms ?? 0);
  return out;
}
