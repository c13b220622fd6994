import { describe, expect, it } from "vitest";

import { mergeLines } from "./build-log-lines";

const line = (id: number) => ({ id, level: "info", message: `line ${id}`, at: "2026-12-01T00:00:00.000Z" });

describe("mergeLines", () => {
  it("appends new lines in id order and skips ones already shown (a replayed notice, an overlapping fetch)", () => {
    const shown = [line(1), line(2)];
    expect(mergeLines(shown, [line(2), line(4), line(3)]).map((l) => l.id)).toEqual([1, 2, 3, 4]);
    expect(mergeLines(shown, [line(1), line(2)])).toBe(shown);
    expect(mergeLines([], [line(5)]).map((l) => l.id)).toEqual([5]);
  });
});
