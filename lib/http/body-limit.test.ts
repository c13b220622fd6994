import { describe, expect, it } from "vitest";

import { hasCode } from "../errors";
import { readBodyCapped, readJsonCapped, withCappedBody } from "./body-limit";

/** A request whose body arrives in `chunks` with no Content-Length; `pulled` counts chunks read. */
function chunked(chunks: number, size: number): { req: Request; pulled: () => number } {
  let n = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (n === chunks) return controller.close();
      n++;
      controller.enqueue(new Uint8Array(size).fill(97));
    },
  });
  const req = new Request("http://x/api", { method: "POST", body, duplex: "half" } as RequestInit);
  return { req, pulled: () => n };
}

describe("readBodyCapped", () => {
  it("refuses a declared Content-Length over the cap without reading", async () => {
    const req = new Request("http://x/api", { method: "POST", body: "x", headers: { "content-length": "2000" } });
    const err = await readBodyCapped(req, 1000).catch((e: unknown) => e);
    expect(hasCode(err, "PAYLOAD_TOO_LARGE")).toBe(true);
    expect(req.bodyUsed).toBe(false);
  });

  it("stops reading a chunked body at the first chunk past the cap", async () => {
    const { req, pulled } = chunked(1000, 1024);
    const err = await readBodyCapped(req, 10 * 1024).catch((e: unknown) => e);
    expect(hasCode(err, "PAYLOAD_TOO_LARGE")).toBe(true);
    expect((err as Error).message).toContain("10 KB");
    expect(pulled()).toBeLessThan(20);
  });

  it("returns a body at or under the cap whole", async () => {
    const { req } = chunked(10, 1024);
    expect((await readBodyCapped(req, 10 * 1024)).byteLength).toBe(10 * 1024);
  });

  it("reads JSON, and treats empty or malformed bodies as absent", async () => {
    const post = (body: string) => new Request("http://x", { method: "POST", body });
    expect(await readJsonCapped(post('{"a":1}'), 100)).toEqual({ a: 1 });
    expect(await readJsonCapped(post(""), 100)).toBeUndefined();
    expect(await readJsonCapped(post("{nope"), 100)).toBeUndefined();
  });

  it("withCappedBody hands on the same bytes with their length", async () => {
    const req = await withCappedBody(new Request("http://x", { method: "POST", body: "hello", headers: { "x-a": "1" } }), 100);
    expect(req.headers.get("content-length")).toBe("5");
    expect(req.headers.get("x-a")).toBe("1");
    expect(await req.text()).toBe("hello");
  });
});
