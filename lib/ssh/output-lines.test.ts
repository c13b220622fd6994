import { describe, expect, it } from "vitest";

import { lastLines } from "./errors";
import { cleanOutputLine, lineSplitter } from "./output-lines";

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

describe("cleanOutputLine", () => {
  it("shows control characters, leftover escapes and bidi overrides as U+FFFD; keeps tabs and indentation", () => {
    expect(cleanOutputLine("\u001b[1;31merror\u001b[0m: a\u0000b\u0007 \u001b]0;title\u0007 \u202eevil\u202c\tok  ")).toBe(
      "error: a\ufffdb\ufffd \ufffd]0;title\ufffd \ufffdevil\ufffd\tok",
    );
    expect(cleanOutputLine("    indented")).toBe("    indented");
  });

  it("is what lineSplitter emits and what lastLines (error messages) keep: bounded lines", () => {
    const lines: string[] = [];
    const s = lineSplitter((l) => lines.push(l));
    s.push("  fatal\u0000 error\n");
    expect(lines).toEqual(["fatal\ufffd error"]);
    const tail = lastLines(`ok\n${"y".repeat(900)}\nbad\u0000byte\u001b[0m\n\n`, 2);
    expect(tail).toBe(`${"y".repeat(500)}…\nbad\ufffdbyte`);
  });
});
