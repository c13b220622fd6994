// Reading rsync's stdout file: the newest complete progress line and the --stats figures.
import { describe, expect, it } from "vitest";

import { lastProgressLine, parseStats } from "./rsync";

describe("rsync output", () => {
  it("takes the newest complete progress2 line, not a half-written one", () => {
    const tail = "  1,024  10%  1.00MB/s  0:00:01 (xfr#1, to-chk=9/11)\r  2,048  20%  2.00MB/s  0:00:01 (xfr#2, to-chk=8/11)\r  3,0";
    expect(lastProgressLine(tail)).toBe("2,048  20%  2.00MB/s  0:00:01 (xfr#2, to-chk=8/11)");
    expect(lastProgressLine("")).toBeNull();
    expect(lastProgressLine("sending incremental file list\n")).toBeNull();
  });

  it("reads the --stats block after progress lines", () => {
    const text =
      "  5,400,000 100%  5.00MB/s  0:00:01 (xfr#2000, to-chk=0/2001)\r\n\nNumber of files: 2,001 (reg: 2,000, dir: 1)\n" +
      "Number of regular files transferred: 2,000\nTotal file size: 5,400,000 bytes\nTotal transferred file size: 5,400,000 bytes\n";
    const stats = parseStats(text);
    expect(stats.get("Number of files")).toBe("2,001");
    expect(stats.get("Number of regular files transferred")).toBe("2,000");
    expect(stats.get("Total file size")).toBe("5,400,000");
    expect(stats.get("Total transferred file size")).toBe("5,400,000");
  });
});
