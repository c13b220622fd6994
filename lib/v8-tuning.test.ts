import { describe, expect, it } from "vitest";

import { v8FlagsFor } from "./v8-tuning.mjs";

describe("v8FlagsFor", () => {
  it("brings back Node 20's Buffer reclaim on Node 24 and later, and sets nothing before", () => {
    const node24 = ["--scavenger-max-new-space-capacity-mb=8", "--external-memory-accounted-in-global-limit"];
    expect(v8FlagsFor("24.22.3")).toEqual(node24);
    expect(v8FlagsFor("26.12.1")).toEqual(node24);
    // Node 20 and 22 do not have the regression, nor the second flag ("unrecognized flag").
    expect(v8FlagsFor("20.20.2")).toEqual([]);
    expect(v8FlagsFor("22.21.0")).toEqual([]);
  });
});
