import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { describe, expect, it } from "vitest";

import {
  countCpuList,
  cpuShares,
  cpuTicks,
  cpuTraits,
  cpuWorkloadMs,
  describeCpuShares,
  describeCpuTraits,
  describeFaults,
  describeVmCosts,
  pageFaultUs,
  syscallNs,
} from "./machine";

describe("cpuShares", () => {
  it("splits the ticks between two readings into busy, idle, I/O wait and stolen time", () => {
    // user nice system idle iowait irq softirq steal
    const before = [100, 0, 50, 1000, 10, 0, 5, 20];
    const after = [400, 0, 150, 1300, 30, 0, 25, 220];
    // deltas: busy 300+100+20 = 420, idle 300, iowait 20, steal 200; total 940
    expect(cpuShares(before, after)).toEqual({ busy: 44.7, idle: 31.9, iowait: 2.1, steal: 21.3 });
  });

  it("is unknown without two readings or when no time passed", () => {
    expect(cpuShares(null, [1, 2, 3, 4, 5, 6, 7, 8])).toBeUndefined();
    expect(cpuShares([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8])).toBeUndefined();
    expect(describeCpuShares(undefined)).toBe("CPU shares unknown");
  });

  it("reads eight counters from this machine's /proc/stat", () => {
    const t = cpuTicks();
    expect(t).toHaveLength(8);
    expect(t!.every((n) => Number.isInteger(n) && n >= 0)).toBe(true);
  });
});

describe("cpuTraits", () => {
  function sysfs(siblings: string | null, vulnerabilities: Record<string, string>): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-cpu-traits-"));
    if (siblings !== null) {
      fs.mkdirSync(path.join(dir, "cpu0", "topology"), { recursive: true });
      fs.writeFileSync(path.join(dir, "cpu0", "topology", "thread_siblings_list"), `${siblings}\n`);
    }
    fs.mkdirSync(path.join(dir, "vulnerabilities"));
    for (const [name, said] of Object.entries(vulnerabilities)) fs.writeFileSync(path.join(dir, "vulnerabilities", name), `${said}\n`);
    return dir;
  }

  it("counts CPU 0's siblings and lists the mitigations in force, up to each one's first ';' and without 'Mitigation: '", () => {
    const dir = sysfs("0-1", {
      meltdown: "Mitigation: PTI",
      l1tf: "Not affected",
      spectre_v2: "Mitigation: Retpolines; IBPB: conditional; STIBP: always-on",
      retbleed: "Vulnerable",
    });
    const cpuinfo = path.join(dir, "cpuinfo");
    fs.writeFileSync(cpuinfo, "processor\t: 0\nflags\t\t: fpu vme pcide sse2 pti vmmcall\n\nprocessor\t: 1\nflags\t\t: fpu pcid\n");
    const t = cpuTraits(dir, cpuinfo);
    expect(t).toEqual({
      threadsPerCore: 2,
      mitigations: ["meltdown: PTI", "retbleed: Vulnerable", "spectre_v2: Retpolines"],
      pcid: false, // CPU 0's flags: "pcide" is not "pcid"
    });
    expect(describeCpuTraits(t)).toBe(
      "2 threads per core; kernel mitigations: meltdown: PTI, retbleed: Vulnerable, spectre_v2: Retpolines; no PCID",
    );
    fs.writeFileSync(cpuinfo, "processor\t: 0\nflags\t\t: fpu pcid invpcid\n");
    expect(describeCpuTraits(cpuTraits(dir, cpuinfo))).toMatch(/; PCID$/);
    fs.rmSync(dir, { recursive: true });
  });

  it("says what it could not read", () => {
    const dir = sysfs(null, { mds: "Not affected" });
    expect(describeCpuTraits(cpuTraits(dir, path.join(dir, "no-cpuinfo")))).toBe(
      "threads per core unknown; kernel mitigations: none reported",
    );
    fs.rmSync(dir, { recursive: true });
    expect(countCpuList("0,2-3,5")).toBe(4);
    expect(countCpuList("3")).toBe(1);
  });
});

describe("syscallNs", () => {
  it("times one system call: whole nanoseconds, under a millisecond", () => {
    const ns = syscallNs(3, 2_000);
    expect(Number.isInteger(ns)).toBe(true);
    expect(ns).toBeGreaterThan(0);
    expect(ns).toBeLessThan(1_000_000);
  });
});

describe("pageFaultUs", () => {
  it("times the first touch of a fresh page: microseconds, never negative", () => {
    const us = pageFaultUs(3, 40);
    expect(Number.isFinite(us)).toBe(true);
    expect(us).toBeGreaterThanOrEqual(0);
    expect(us).toBeLessThan(1_000);
  });
});

describe("describeVmCosts", () => {
  it("gives each recorded measure as start → end with its unit, and leaves out what was not recorded", () => {
    expect(
      describeVmCosts({ cpuWorkloadMs: { start: 40.7, end: 42.8 }, syscallNs: { start: 1768, end: 1473 }, pageFaultUs: { start: 13 } }),
    ).toBe("a fixed CPU workload 40.7 → 42.8 ms; a system call (getppid) 1768 → 1473 ns; a page fault 13 → ? µs");
    expect(describeVmCosts({ syscallNs: { start: 900, end: 950 } })).toBe("a system call (getppid) 900 → 950 ns");
    expect(describeVmCosts({})).toBe("");
  });
});

describe("describeFaults", () => {
  it("gives the median and range of faults per window and their cost at the VM's mean price of a fault", () => {
    expect(describeFaults({ median: 1400, min: 1204, max: 1688 }, { start: 2.0, end: 2.2 })).toBe(
      "1400 median (1204–1688), ≈ 2.9 ms at 2.1 µs a fault",
    );
    expect(describeFaults({ median: 1400, min: 1204, max: 1688 }, { start: 10 })).toBe("1400 median (1204–1688), ≈ 14 ms at 10 µs a fault");
    expect(describeFaults({ median: 3, min: 1, max: 5 }, undefined)).toBe("3 median (1–5)");
  });
});

describe("cpuWorkloadMs", () => {
  it("times the fixed workload: a median in milliseconds", () => {
    const ms = cpuWorkloadMs(3);
    expect(Number.isFinite(ms)).toBe(true);
    // 20,000 digests and 3 million steps take milliseconds on any machine, not microseconds.
    expect(ms).toBeGreaterThan(1);
    expect(ms).toBeLessThan(5_000);
  });
});
