import { describe, expect, it } from "vitest";

import { gapRecheckDelay } from "./events";

describe("gapRecheckDelay", () => {
  it("starts at the first delay, doubles each round and never passes the slow poll", () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((r) => gapRecheckDelay(25, r, 1_000))).toEqual([25, 50, 100, 200, 400, 800, 1_000]);
    expect(gapRecheckDelay(100, 1_000, 2_000)).toBe(2_000);
  });
});
