import { describe, expect, it } from "vitest";

import { formatSse, pullEventStream, resumeAfter, wantsEventStream, type SseMessage } from "./sse";

const req = (headers: Record<string, string> = {}) => new Request("http://127.0.0.1/x", { headers });

describe("server-sent events", () => {
  it("streams when asked by ?format=sse or Accept, unless ?format=json", () => {
    expect(wantsEventStream("sse", req())).toBe(true);
    expect(wantsEventStream(undefined, req({ accept: "text/event-stream" }))).toBe(true);
    expect(wantsEventStream("json", req({ accept: "text/event-stream" }))).toBe(false);
    expect(wantsEventStream(undefined, req({ accept: "application/json" }))).toBe(false);
  });

  it("resumes after Last-Event-ID when it is a positive integer, else after ?after", () => {
    expect(resumeAfter(req({ "last-event-id": "42" }), 7)).toBe(42);
    expect(resumeAfter(req({ "last-event-id": "-1" }), 7)).toBe(7);
    expect(resumeAfter(req({ "last-event-id": "1e400" }), 7)).toBe(7);
    expect(resumeAfter(req({ "last-event-id": "x" }), null)).toBeNull();
    expect(resumeAfter(req(), undefined)).toBeUndefined();
  });

  it("formats messages and comments; data is JSON, so a newline in it cannot end the message", () => {
    expect(formatSse({ id: 3, event: "log", data: { m: "a\nb" } })).toBe('id: 3\nevent: log\ndata: {"m":"a\\nb"}\n\n');
    expect(formatSse({ comment: "keepalive" })).toBe(": keepalive\n\n");
  });

  it("sends what the source yields, one error event when it fails, and closes once", async () => {
    let closed = 0;
    const res = pullEventStream(
      req(),
      async function* (): AsyncGenerator<SseMessage> {
        yield { id: 1, event: "line", data: "one" };
        throw new Error("database went away");
      },
      { onClose: () => closed++ },
    );
    expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const text = await res.text();
    expect(text).toBe(
      'retry: 2000\n\nid: 1\nevent: line\ndata: "one"\n\nevent: error\ndata: {"code":"STREAM_FAILED","message":"database went away"}\n\n',
    );
    expect(closed).toBe(1);
  });

  it("sends what the source yields together as one chunk, and what comes later as another, without waiting for the end", async () => {
    let later: () => void = () => undefined;
    const res = pullEventStream(req(), async function* (): AsyncGenerator<SseMessage> {
      yield { id: 1, event: "state", data: "a" };
      yield { id: 2, event: "log", data: "b" };
      await new Promise<void>((resolve) => (later = resolve));
      yield { id: 3, event: "log", data: "c" };
      yield { event: "end", data: "d" };
    });
    const reader = res.body!.getReader();
    const decode = (v: Uint8Array | undefined) => new TextDecoder().decode(v);
    // The first chunk arrives while the source still waits: the stream is not held back to its end.
    expect(decode((await reader.read()).value)).toBe('retry: 2000\n\nid: 1\nevent: state\ndata: "a"\n\nid: 2\nevent: log\ndata: "b"\n\n');
    later();
    expect(decode((await reader.read()).value)).toBe('id: 3\nevent: log\ndata: "c"\n\nevent: end\ndata: "d"\n\n');
    expect((await reader.read()).done).toBe(true);
  });

  it("stops reading the source when the client goes away (the body is cancelled)", async () => {
    let seenAbort = false;
    let closed = 0;
    const res = pullEventStream(
      req(),
      async function* (signal) {
        yield { comment: "keepalive" };
        if (!signal.aborted) await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
        seenAbort = signal.aborted;
      },
      { onClose: () => closed++ },
    );
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    await expect.poll(() => seenAbort).toBe(true);
    expect(closed).toBe(1);
  });

  it("ends at once when the client left before the stream was made (the route awaited first)", async () => {
    const gone = new AbortController();
    gone.abort();
    let read = 0;
    let closed = 0;
    const res = pullEventStream(
      new Request("http://127.0.0.1/x", { signal: gone.signal }),
      async function* (signal) {
        while (!signal.aborted) {
          read++;
          yield { comment: "keepalive" };
          await new Promise((r) => setTimeout(r, 5));
        }
      },
      { onClose: () => closed++ },
    );
    expect(closed).toBe(1);
    expect(await res.text()).toBe("");
    expect(read).toBe(0);
  });
});
