// What the numbers were measured on, and how busy the machine was meanwhile.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";

import { median, round, type Summary } from "./stats";

export interface Machine {
  cpuModel: string;
  cpuCount: number;
  /**
   * CPUs per core as the VM presents them (2: the two vCPUs may share one core's execution units, and
   * the loopback build VMs' rsync then slows the server's thread), and the kernel's mitigations in force
   * (PTI and the return-stack ones make every system call dearer). Both differ between this pool's VMs
   * and are read to explain why the same create costs different CPU time on them.
   */
  cpuTraits?: CpuTraits;
  /**
   * cpuWorkloadMs() at the start and at the end of the run: how fast this VM was that hour. The same VM
   * has run it 2.5x slower an hour later with no steal reported (docs/performance.md, "Server CPU per
   * create by VM"), which moves every CPU figure of the run with it.
   */
  cpuWorkloadMs?: { start: number; end?: number };
  /**
   * syscallNs() at the start and at the end of the run: what one system call costs on this VM. With PTI
   * and no PCID (cpuTraits) every kernel entry also flushes the TLB, which the JavaScript around it pays.
   */
  syscallNs?: { start: number; end?: number };
  /** pageFaultUs() at the start and at the end of the run: what the first touch of a fresh page costs on this VM. */
  pageFaultUs?: { start: number; end?: number };
  memoryMb: number;
  os: string;
  kernel: string;
  /** The Node that runs the benchmark itself. */
  node: string;
  /** The Node that runs the app server (npm start's choice: scripts/server-node.sh), once it started. */
  serverNode?: string;
  date: string;
  loadAverageAtStart: number[];
  loadAverageAtEnd?: number[];
  /** Other processes running at start (a rough measure of how noisy the machine was). */
  processesAtStart: number;
  /**
   * How the machine's CPU time went between start and end (/proc/stat, all CPUs), in percent: `steal`
   * is time the hypervisor gave this VM's CPUs to someone else — load the load average does not show.
   */
  cpuPercent?: CpuShares;
  note: string;
}

export interface CpuShares {
  busy: number;
  idle: number;
  iowait: number;
  steal: number;
}

export interface CpuTraits {
  threadsPerCore: number | null;
  /** "name: what the kernel says" (less "Mitigation: ") for each CPU vulnerability not "Not affected", up to its first ";". */
  mitigations: string[];
  /**
   * Whether the CPU offers PCID (/proc/cpuinfo's flags; null: unknown). Without it, a kernel with PTI
   * flushes the whole TLB at every system call, interrupt and page fault.
   */
  pcid: boolean | null;
}

/** How many CPUs a "0-1" / "0,2" / "3" list names. */
export function countCpuList(list: string): number {
  return list
    .trim()
    .split(",")
    .filter(Boolean)
    .reduce((n, part) => {
      const [a, b] = part.split("-").map(Number);
      return n + (b === undefined ? 1 : b - a! + 1);
    }, 0);
}

/** CPU 0's siblings and the kernel's vulnerability report, from sysfs, and PCID from `cpuinfo` (both for tests). */
export function cpuTraits(dir = "/sys/devices/system/cpu", cpuinfo = "/proc/cpuinfo"): CpuTraits {
  let threadsPerCore: number | null = null;
  try {
    threadsPerCore = countCpuList(fs.readFileSync(`${dir}/cpu0/topology/thread_siblings_list`, "utf8")) || null;
  } catch {
    // no topology (not Linux, or a restricted /sys)
  }
  const mitigations: string[] = [];
  try {
    for (const name of fs.readdirSync(`${dir}/vulnerabilities`).sort()) {
      const said = fs.readFileSync(`${dir}/vulnerabilities/${name}`, "utf8").trim();
      if (said && said !== "Not affected")
        mitigations.push(
          `${name}: ${said
            .split(";")[0]!
            .replace(/^Mitigation: /, "")
            .trim()}`,
        );
    }
  } catch {
    // no vulnerabilities directory
  }
  let pcid: boolean | null = null;
  try {
    const flags = /^flags\s*:(.*)$/m.exec(fs.readFileSync(cpuinfo, "utf8"))?.[1];
    if (flags !== undefined) pcid = flags.trim().split(/\s+/).includes("pcid");
  } catch {
    // no /proc/cpuinfo
  }
  return { threadsPerCore, mitigations, pcid };
}

/** CpuTraits for a report line: "1 thread per core; kernel mitigations: meltdown: PTI, …". */
export function describeCpuTraits(t: CpuTraits | undefined): string {
  if (!t) return "";
  const threads =
    t.threadsPerCore === null ? "threads per core unknown" : `${t.threadsPerCore} thread${t.threadsPerCore === 1 ? "" : "s"} per core`;
  const pcid = t.pcid === null ? "" : t.pcid ? "; PCID" : "; no PCID";
  return `${threads}; kernel mitigations: ${t.mitigations.length ? t.mitigations.join(", ") : "none reported"}${pcid}`;
}

/** cpuWorkloadMs()'s results, kept where they can be read so that no engine may drop the work as unused. */
export let workloadSink = 0;

/**
 * The median time, in ms, of a fixed CPU workload (a chain of 20,000 sha256 digests and 3 million integer
 * steps) run `samples` times back to back: ~25 ms on a quiet Intel VM of this pool, 20–70 ms on an AMD one
 * within the same half hour (2026-12-05).
 */
export function cpuWorkloadMs(samples = 7): number {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t = performance.now();
    let h = Buffer.alloc(64);
    for (let j = 0; j < 20_000; j++) h = crypto.createHash("sha256").update(h).digest();
    let x = 0;
    for (let j = 0; j < 3_000_000; j++) x = (x * 31 + j) | 0;
    workloadSink ^= x ^ h[0]!;
    times.push(performance.now() - t);
  }
  return round(median(times), 1);
}

/**
 * The median cost, in ns, of one system call made from JavaScript: `process.ppid` asks the kernel
 * (getppid(2)) at every read; `calls` reads a sample, `samples` samples back to back. ~1,500 ns on an AMD
 * VM of this pool that boots with PTI and has no PCID (2026-12-05).
 */
export function syscallNs(samples = 7, calls = 20_000): number {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    let x = 0;
    const t = performance.now();
    for (let j = 0; j < calls; j++) x ^= process.ppid;
    times.push(((performance.now() - t) * 1e6) / calls);
    workloadSink ^= x;
  }
  return round(median(times), 0);
}

/**
 * The median cost, in µs, of a page fault: the first write to each 4 KB page of freshly mapped zeroed memory
 * (40 MB, above glibc's largest mmap threshold, so never reused memory) less a second write to the same pages.
 * ~10 µs on an AMD VM of this pool that boots with PTI and has no PCID, ~2 µs on one without PTI
 * (2026-12-05); the server takes 140–260 of them in a create's window on the latter (`--windows`).
 */
export function pageFaultUs(samples = 5, mb = 40): number {
  const pages = (mb * 2 ** 20) / 4096;
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const b = Buffer.alloc(mb * 2 ** 20);
    let t = performance.now();
    b.fill(i + 1);
    const first = performance.now() - t;
    t = performance.now();
    b.fill(i + 2);
    const second = performance.now() - t;
    times.push(Math.max(0, ((first - second) * 1000) / pages));
  }
  return round(median(times), 2);
}

/** What a run records of the machine as it ends: load, CPU shares since `ticksAtStart`, the workload's, a system call's and a page fault's times again. */
export function finishMachine(machine: Machine, ticksAtStart: number[] | null): void {
  machine.loadAverageAtEnd = loadAverage();
  machine.cpuPercent = cpuShares(ticksAtStart, cpuTicks());
  if (machine.cpuWorkloadMs) machine.cpuWorkloadMs.end = cpuWorkloadMs();
  if (machine.syscallNs) machine.syscallNs.end = syscallNs();
  if (machine.pageFaultUs) machine.pageFaultUs.end = pageFaultUs();
}

/**
 * The VM's speed and costs at the run's start → end, for a report line: "a fixed CPU workload 40.7 → 42.8 ms;
 * a system call 1768 → 1473 ns; a page fault 13 → 11.8 µs" (what was not recorded is left out).
 */
export function describeVmCosts(m: Pick<Machine, "cpuWorkloadMs" | "syscallNs" | "pageFaultUs">): string {
  const pair = (what: string, p: { start: number; end?: number } | undefined, unit: string) =>
    p ? [`${what} ${p.start} → ${p.end ?? "?"} ${unit}`] : [];
  return [
    ...pair("a fixed CPU workload", m.cpuWorkloadMs, "ms"),
    ...pair("a system call (getppid)", m.syscallNs, "ns"),
    ...pair("a page fault", m.pageFaultUs, "µs"),
  ].join("; ");
}

/**
 * The server's page faults per create window, and what they cost at this VM's price of a fault (the
 * mean of its start and end readings): "1391 median (1204–1688), ≈ 2.9 ms at 2.1 µs a fault".
 */
export function describeFaults(faults: Pick<Summary, "median" | "min" | "max">, cost: Machine["pageFaultUs"]): string {
  const counted = `${faults.median} median (${faults.min}–${faults.max})`;
  if (!cost) return counted;
  const us = cost.end === undefined ? cost.start : (cost.start + cost.end) / 2;
  return `${counted}, ≈ ${round((faults.median * us) / 1000)} ms at ${round(us)} µs a fault`;
}

/** The 1, 5 and 15 minute load averages, to two decimals. */
export function loadAverage(): number[] {
  return os.loadavg().map((l) => Math.round(l * 100) / 100);
}

/** Cumulative CPU ticks from /proc/stat's first line (null where there is no /proc/stat). */
export function cpuTicks(): number[] | null {
  try {
    const first = fs.readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
    if (!first.startsWith("cpu ")) return null;
    return first.trim().split(/\s+/).slice(1, 9).map(Number);
  } catch {
    return null;
  }
}

/** Shares of CPU time between two cpuTicks() readings (user nice system idle iowait irq softirq steal). */
export function cpuShares(before: number[] | null, after: number[] | null): CpuShares | undefined {
  if (!before || !after) return undefined;
  const d = after.map((v, i) => v - (before[i] ?? 0));
  const total = d.reduce((a, b) => a + b, 0);
  if (total <= 0) return undefined;
  const pct = (n: number) => Math.round((1000 * n) / total) / 10;
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = d;
  return { busy: pct(user + nice + system + irq + softirq), idle: pct(idle), iowait: pct(iowait), steal: pct(steal) };
}

/** A CpuShares for a report line: "CPU busy 61 %, idle 27 %, I/O wait 1 %, stolen by the hypervisor 12 %". */
export function describeCpuShares(c: CpuShares | undefined): string {
  return c ? `CPU busy ${c.busy} %, idle ${c.idle} %, I/O wait ${c.iowait} %, stolen by the hypervisor ${c.steal} %` : "CPU shares unknown";
}

function osName(): string {
  try {
    const text = fs.readFileSync("/etc/os-release", "utf8");
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text)?.[1] ?? os.type();
  } catch {
    return os.type();
  }
}

export function describeMachine(): Machine {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    cpuCount: cpus.length,
    cpuTraits: cpuTraits(),
    cpuWorkloadMs: { start: cpuWorkloadMs() },
    syscallNs: { start: syscallNs() },
    pageFaultUs: { start: pageFaultUs() },
    memoryMb: Math.round(os.totalmem() / 2 ** 20),
    os: osName(),
    kernel: os.release(),
    node: process.version,
    date: new Date().toISOString(),
    loadAverageAtStart: loadAverage(),
    processesAtStart: fs.readdirSync("/proc").filter((e) => /^\d+$/.test(e)).length,
    note:
      "Shared, noisy machine: other engineers' test suites (sshd, next build, vitest, Playwright) may run in parallel. " +
      "Create/destroy are interleaved (manager, script, manager, script…) so drift hits both sides alike; compare ratios, not absolute times.",
  };
}
