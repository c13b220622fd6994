import { describe, expect, it } from "vitest";

import { lineSplitter } from "./output-lines";

describe("lineSplitter", () => {
  it("joins lines split across chunks, drops blanks and colours, handles \\r progress", () => {
    const lines: string[] = [];
    const s = lineSplitter((l) => lines.push(l));
    s.push("Cloning into 'x'...\nremote: Enumer");
    s.push(Buffer.from("ating objects: 3\r\n\n\u001b[32mdone\u001b[0m\rReceiving 50%\rReceiving 100%\npartial"));
    expect(lines).toEqual(["Cloning into 'x'...", "remote: Enumerating objects: 3", "done", "Receiving 50%", "Receiving 100%"]);
    s.flush();
    expect(lines.at(-1)).toBe("partial");
  });

  it("cuts very long lines", () => {
    const lines: string[] = [];
    const s = lineSplitter((l) => lines.push(l));
    s.push(`${"x".repeat(2000)}\n`);
    expect(lines[0]).toHaveLength(501);
  });
});
