import { describe, expect, it } from "vitest";

import { SseParser } from "./sse";

describe("SseParser", () => {
  it("parses events split across chunks, with ids, comments and retry", () => {
    const p = new SseParser();
    const text =
      'retry: 2000\n\n: keepalive\n\nid: 7\nevent: log\ndata: {"a":1}\n\nid: 8\nevent: state\ndata: line1\ndata: line2\n\nevent: end\ndata: {}\n\n';
    const out = [];
    for (let i = 0; i < text.length; i += 5) out.push(...p.push(text.slice(i, i + 5)));
    expect(p.retryMs).toBe(2000);
    expect(out).toEqual([
      { id: "7", event: "log", data: '{"a":1}' },
      { id: "8", event: "state", data: "line1\nline2" },
      { id: undefined, event: "end", data: "{}" },
    ]);
  });

  it("accepts CRLF line endings split between chunks", () => {
    const p = new SseParser();
    expect(p.push("data: x\r")).toEqual([]);
    expect(p.push("\n\r\n")).toEqual([{ id: undefined, event: "message", data: "x" }]);
  });
});
