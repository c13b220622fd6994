// Request bodies read with a cap, before anything parses them. A declared Content-Length over the cap
// is refused without reading a byte; a chunked body (no Content-Length) is counted while it is read
// and the read stops at the first byte over the cap, so a 100 MB sign-in post never sits in memory.
// Both answer 413 PAYLOAD_TOO_LARGE in the API's error shape.

import { SandboxerError } from "../errors";

/** Caps per surface: better-auth's endpoints take a few short fields, the API at most a profile's inputs. */
export const BODY_LIMITS = {
  auth: 64 * 1024,
  api: 1024 * 1024,
} as const;

/** Thrown when a request body is larger than the endpoint accepts. */
export class PayloadTooLargeError extends SandboxerError {
  constructor(limit: number) {
    super("PAYLOAD_TOO_LARGE", `The request body is larger than ${formatBytes(limit)}, the most this endpoint accepts`, {
      details: { limitBytes: limit },
      name: "PayloadTooLargeError",
    });
  }
}

function formatBytes(n: number): string {
  if (n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MB`;
  if (n % 1024 === 0) return `${n / 1024} KB`;
  return `${n} bytes`;
}

/**
 * The body of `req`, at most `limit` bytes; throws PayloadTooLargeError when the declared length or
 * the bytes actually sent exceed it (the rest of the stream is cancelled, not read).
 */
export async function readBodyCapped(req: Request, limit: number): Promise<Uint8Array<ArrayBuffer>> {
  const declared = req.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared) > limit) throw new PayloadTooLargeError(limit);
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => undefined);
      throw new PayloadTooLargeError(limit);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** The body as JSON, capped; an empty or malformed body is `undefined` (the caller's schema says what is missing). */
export async function readJsonCapped(req: Request, limit: number): Promise<unknown> {
  const bytes = await readBodyCapped(req, limit);
  if (bytes.byteLength === 0) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * A copy of `req` whose body is already read (capped), for handlers that read the body themselves
 * (better-auth). GET and HEAD pass through untouched.
 */
export async function withCappedBody(req: Request, limit: number): Promise<Request> {
  if (req.method === "GET" || req.method === "HEAD") return req;
  const body = await readBodyCapped(req, limit);
  const headers = new Headers(req.headers);
  headers.delete("transfer-encoding");
  headers.set("content-length", String(body.byteLength));
  return new Request(req.url, { method: req.method, headers, body: body.byteLength ? body : null, signal: req.signal });
}
