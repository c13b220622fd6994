import { describe, expect, it } from "vitest";

import { acquireStreamSlot, openStreams } from "./stream-limit";

describe("event streams per person", () => {
  it("refuses the stream over the cap with TOO_MANY_STREAMS, per person, and frees a slot on release (once)", () => {
    const releases = [1, 2, 3].map(() => acquireStreamSlot("p1", 3));
    expect(() => acquireStreamSlot("p1", 3)).toThrow(expect.objectContaining({ code: "TOO_MANY_STREAMS" }));
    expect(() => acquireStreamSlot("p2", 3)).not.toThrow(); // another person is not affected
    releases[0]!();
    releases[0]!(); // twice releases once
    expect(openStreams("p1")).toBe(2);
    const again = acquireStreamSlot("p1", 3);
    expect(() => acquireStreamSlot("p1", 3)).toThrow(expect.objectContaining({ code: "TOO_MANY_STREAMS" }));
    for (const r of [again, releases[1]!, releases[2]!]) r();
    expect(openStreams("p1")).toBe(0);
  });
});
