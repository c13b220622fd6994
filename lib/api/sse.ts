// Server-Sent Events for the API's streaming routes (a sandbox's events, a build's log, the team
// stream): which requests want a stream, where a resumed stream starts, the response headers, and the
// pull loop shared by the routes that read a source until it ends.
import "server-only";

/** A stream when asked by ?format=sse, or by Accept: text/event-stream unless ?format=json. */
export function wantsEventStream(format: string | undefined, req: Request): boolean {
  return format === "sse" || (format !== "json" && (req.headers.get("accept") ?? "").includes("text/event-stream"));
}

/** Where a stream resumes: after the Last-Event-ID a reconnecting client sends, else after `?after`. */
export function resumeAfter<T>(req: Request, after: T): number | T {
  const header = Number(req.headers.get("last-event-id") ?? "");
  return Number.isSafeInteger(header) && header > 0 ? header : after;
}

export const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-store, no-transform",
  connection: "keep-alive",
  "x-accel-buffering": "no",
} as const;

/** One message: `id`/`event`/`data` lines, or a comment (keepalive). */
export type SseMessage = { id?: number; event?: string; data: unknown } | { comment: string };

export function formatSse(msg: SseMessage): string {
  if ("comment" in msg) return `: ${msg.comment}\n\n`;
  return `${msg.id === undefined ? "" : `id: ${msg.id}\n`}${msg.event ? `event: ${msg.event}\n` : ""}data: ${JSON.stringify(msg.data)}\n\n`;
}

/**
 * Text written in one go — a batch of events read together, a state change and the `end` after it —
 * leaves as one chunk, once the writer has let the event loop turn (setImmediate runs after the
 * microtasks that carry a batch through async generators). Each chunk is a write to the client's socket,
 * which a stream used to make for every event. Nothing waits longer than that.
 */
export function batchedChunks(enqueue: (bytes: Uint8Array) => void): {
  write(text: string): void;
  flush(): void;
  /** Characters written and not yet handed to `enqueue`. */
  pending(): number;
} {
  const encoder = new TextEncoder();
  let pending = "";
  let flushing: NodeJS.Immediate | null = null;
  const flush = () => {
    if (flushing) clearImmediate(flushing);
    flushing = null;
    const text = pending;
    pending = "";
    if (text) enqueue(encoder.encode(text));
  };
  return {
    write(text) {
      pending += text;
      flushing ??= setImmediate(flush);
    },
    flush,
    pending: () => pending.length,
  };
}

/**
 * A stream that sends what `source` yields until it ends, the client goes away or the source fails
 * (one `error` event then). `onClose` runs once when the stream is over, however it ended.
 */
export function pullEventStream(
  req: Request,
  source: (signal: AbortSignal) => AsyncIterable<SseMessage>,
  opts: { retryMs?: number; onClose?: () => void } = {},
): Response {
  const stop = new AbortController();
  req.signal.addEventListener("abort", () => stop.abort(), { once: true });
  if (opts.onClose) stop.signal.addEventListener("abort", opts.onClose, { once: true });
  // The client may have left while the route awaited before this (a listener added to an aborted signal
  // never runs): the stream ends at once, its slot freed, instead of reading its source for nobody.
  if (req.signal.aborted) stop.abort();
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      const out = batchedChunks((bytes) => {
        if (!stop.signal.aborted) controller.enqueue(bytes);
      });
      const send = (text: string) => {
        if (!stop.signal.aborted) out.write(text);
      };
      send(`retry: ${opts.retryMs ?? 2000}\n\n`);
      try {
        for await (const msg of source(stop.signal)) send(formatSse(msg));
      } catch (e) {
        send(formatSse({ event: "error", data: { code: "STREAM_FAILED", message: (e as Error).message } }));
      } finally {
        out.flush();
        stop.abort();
        try {
          controller.close();
        } catch {
          // already closed: the client cancelled the body
        }
      }
    },
    cancel() {
      stop.abort();
    },
  });
  return new Response(stream, { headers: SSE_HEADERS });
}
