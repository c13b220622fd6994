import { describe, expect, it } from "vitest";

import { formatDuration, parseDuration } from "./duration";

describe("durations", () => {
  it.each([
    ["90s", 90_000],
    ["15m", 900_000],
    ["8h", 28_800_000],
    ["2d", 172_800_000],
    ["1h30m", 5_400_000],
    ["250ms", 250],
  ])("parses %s", (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(["", "8", "h", "8 h", "1.5h", "-1h", "8hours", "1h junk"])("refuses %j naming the value", (text) => {
    expect(() => parseDuration(text)).toThrow(`"${text}" is not a duration`);
  });

  it("formats the two largest units", () => {
    expect(formatDuration(0)).toBe("0s");
    expect(formatDuration(45_000)).toBe("45s");
    expect(formatDuration(3_725_000)).toBe("1h 2m");
    expect(formatDuration(3 * 86_400_000 + 4 * 3_600_000 + 60_000)).toBe("3d 4h");
    expect(formatDuration(-90_000)).toBe("-1m 30s");
  });
});
