import { describe, expect, it } from "vitest";

import { cpuShares, cpuTicks, describeCpuShares } from "./machine";

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
