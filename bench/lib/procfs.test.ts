import { execFileSync } from "node:child_process";

import { describe, expect, it } from "vitest";

import { procStat } from "./procfs";

describe("procStat", () => {
  it("reads the same fault counter ps reports as min_flt, and zeros for a process that is gone", () => {
    const before = procStat(process.pid).minorFaults;
    const ps = Number(execFileSync("ps", ["-o", "min_flt=", "-p", String(process.pid)], { encoding: "utf8" }).trim());
    const after = procStat(process.pid).minorFaults;
    expect(before).toBeGreaterThan(0);
    // The counter only grows: ps read it between our two readings.
    expect(ps).toBeGreaterThanOrEqual(before);
    expect(ps).toBeLessThanOrEqual(after);
    expect(procStat(2 ** 22 + 1)).toEqual({ selfMs: 0, childrenMs: 0, minorFaults: 0 });
  });
});
