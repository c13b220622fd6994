// The CLI's HTTP transport: node:http / node:https instead of fetch. A process's first fetch() loads
// undici (~50 ms on this machine, more than the rest of a `sandboxer list`); node:http is ~10 ms and
// https is loaded only for https URLs. Answers are read whole (bounded) or, for event streams, as
// chunks; an abort signal ends the request or the stream at once.
import type { ClientRequest, IncomingMessage } from "node:http";

/** What the CLI reads of an answer. */
export interface HttpAnswer {
  status: number;
  ok: boolean;
  header(name: string): string | null;
  /** The body as text, at most MAX_BODY_BYTES (a larger one is an error). */
  text(): Promise<string>;
  /** The body's chunks as they arrive (an event stream). */
  chunks(): AsyncIterable<Buffer>;
  /** Stops reading and closes the connection. */
  close(): void;
}

/** Generous for a page of 200 sandboxes; anything larger is not an answer this CLI asked for. */
export const MAX_BODY_BYTES = 32 * 1024 * 1024;

export class BodyTooLargeError extends Error {
  constructor() {
    super(`the answer is larger than ${MAX_BODY_BYTES / 1024 / 1024} MiB`);
    this.name = "BodyTooLargeError";
  }
}

/**
 * Sends one request. Rejects like fetch: with the socket's error (its `code`, e.g. ECONNREFUSED), or
 * with an AbortError when `signal` aborts before the answer's head arrives.
 */
export async function httpRequest(
  method: string,
  url: URL,
  opts: { headers: Record<string, string>; body?: string; signal?: AbortSignal },
): Promise<HttpAnswer> {
  const mod = url.protocol === "https:" ? await import("node:https") : await import("node:http");
  const headers = { ...opts.headers, ...(opts.body !== undefined ? { "content-length": String(Buffer.byteLength(opts.body)) } : {}) };
  let req: ClientRequest;
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    req = mod.request(url, { method, headers, signal: opts.signal }, resolve);
    req.once("error", reject);
    req.end(opts.body);
  });
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    res.destroy();
    req.destroy();
  };
  return {
    status: res.statusCode ?? 0,
    ok: (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300,
    header(name) {
      const v = res.headers[name.toLowerCase()];
      return v === undefined ? null : Array.isArray(v) ? v.join(", ") : v;
    },
    async text() {
      const parts: Buffer[] = [];
      let size = 0;
      try {
        for await (const chunk of res as AsyncIterable<Buffer>) {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) throw new BodyTooLargeError();
          parts.push(chunk);
        }
      } finally {
        close();
      }
      return Buffer.concat(parts).toString("utf8");
    },
    chunks: () => res as AsyncIterable<Buffer>,
    close,
  };
}
