import { describe, expect, it } from "vitest";

import { bucketMedians, slopeMbPerHour } from "./memory-trace";

const MB = 2 ** 20;
const MIN = 60_000;

describe("bucketMedians", () => {
  it("takes each bucket's median from `from` on and leaves out empty buckets", () => {
    const samples: [number, number][] = [
      [0, 999 * MB], // before `from`: ignored
      [10 * MIN, 100 * MB],
      [11 * MIN, 300 * MB],
      [12 * MIN, 110 * MB],
      [35 * MIN, 150 * MB],
    ];
    expect(bucketMedians(samples, 10 * MIN, 10 * MIN)).toEqual([
      { atMin: 0, mb: 110 },
      { atMin: 20, mb: 150 },
    ]);
  });
});

describe("slopeMbPerHour", () => {
  it("fits a steady climb of 12 MB an hour through noise", () => {
    const samples: [number, number][] = [];
    for (let m = 0; m <= 120; m++) samples.push([m * MIN, (200 + m * 0.2 + (m % 2 ? 3 : -3)) * MB]);
    expect(slopeMbPerHour(samples, 0)).toBeCloseTo(12, 0);
  });

  it("reads a flat line as 0 and ignores what came before `from`", () => {
    const samples: [number, number][] = [
      [0, 50 * MB],
      [MIN, 200 * MB],
      [2 * MIN, 200 * MB],
      [3 * MIN, 200 * MB],
    ];
    expect(slopeMbPerHour(samples, MIN)).toBe(0);
    expect(slopeMbPerHour(samples, 0)).toBeGreaterThan(0);
  });

  it("has no slope without two distinct times", () => {
    expect(slopeMbPerHour([[5, MB]], 0)).toBeNull();
    expect(slopeMbPerHour([], 0)).toBeNull();
  });
});
