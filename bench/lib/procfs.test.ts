import { execFileSync } from "node:child_process";

import { describe, expect, it } from "vitest";

import { minorFaults } from "./procfs";

describe("minorFaults", () => {
  it("reads the same counter ps reports as min_flt, and 0 for a process that is gone", () => {
    const before = minorFaults(process.pid);
    const ps = Number(execFileSync("ps", ["-o", "min_flt=", "-p", String(process.pid)], { encoding: "utf8" }).trim());
    const after = minorFaults(process.pid);
    expect(before).toBeGreaterThan(0);
    // The counter only grows: ps read it between our two readings.
    expect(ps).toBeGreaterThanOrEqual(before);
    expect(ps).toBeLessThanOrEqual(after);
    expect(minorFaults(2 ** 22 + 1)).toBe(0);
  });
});
