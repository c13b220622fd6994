// The benchmark's client of the running app: REST calls with the session cookie, and a Server-Sent
// Events follower for GET /api/v1/sandboxes/{id}/events that resolves on the `end` event.
import { performance } from "node:perf_hooks";

import { SseParser } from "../../cli/sse";

export interface SandboxView {
  id: string;
  status: string;
  statusReason: string | null;
  host: { id: string; title: string; address: string; port: number } | null;
  handle: { workspacePath?: string } | null;
}

export interface StreamEvent {
  /** Client clock (performance.now()) when the event arrived. */
  receivedAt: number;
  type: string;
  id?: number;
  message?: string;
  status?: string;
  /** Server clock (ISO) of the event, for log/state events. */
  at?: string;
}

export interface FollowResult {
  final: SandboxView;
  endAt: number;
  events: StreamEvent[];
}

/** The message of a failed fetch with its cause ("fetch failed" alone says nothing). */
export function describeFetchError(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  return err.cause ? `${err.message}: ${err.cause.code ?? ""} ${err.cause.message ?? ""}`.trim() : err.message;
}

export class Api {
  /** Idempotent requests (GET, DELETE) retried after a connection-level failure, with their causes. */
  readonly networkRetries: string[] = [];

  constructor(
    readonly url: string,
    readonly cookie: string,
  ) {}

  /**
   * fetch for idempotent requests: a connection the server closed while idle (keep-alive race) fails
   * with "fetch failed" before the request reached the server; try again (at most 3 times).
   */
  private async idempotentFetch(input: string, init: RequestInit): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fetch(input, init);
      } catch (e) {
        if (!(e instanceof TypeError) || attempt >= 3 || init.signal?.aborted)
          throw new Error(`${init.method ?? "GET"} ${input}: ${describeFetchError(e)}`);
        this.networkRetries.push(`${init.method ?? "GET"} ${new URL(input).pathname}: ${describeFetchError(e)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    // A session-cookie write must name this site (the server's cross-site check).
    return { cookie: this.cookie, origin: new URL(this.url).origin, ...extra };
  }

  async create(profile: string, input: Record<string, string> = {}): Promise<{ status: number; sandbox?: SandboxView; error?: string }> {
    const res = await fetch(`${this.url}/api/v1/sandboxes`, {
      method: "POST",
      headers: this.headers({ "content-type": "application/json" }),
      body: JSON.stringify({ profile, input }),
    });
    const text = await res.text();
    if (res.status !== 202) return { status: res.status, error: text.slice(0, 500) };
    return { status: res.status, sandbox: JSON.parse(text) as SandboxView };
  }

  async destroy(id: string): Promise<{ status: number; sandbox?: SandboxView; error?: string }> {
    const res = await this.idempotentFetch(`${this.url}/api/v1/sandboxes/${id}`, { method: "DELETE", headers: this.headers() });
    const text = await res.text();
    if (res.status !== 202) return { status: res.status, error: text.slice(0, 500) };
    return { status: res.status, sandbox: JSON.parse(text) as SandboxView };
  }

  async get(id: string): Promise<SandboxView> {
    const res = await this.idempotentFetch(`${this.url}/api/v1/sandboxes/${id}`, { headers: this.headers() });
    if (!res.ok) throw new Error(`GET sandbox ${id}: ${res.status} ${await res.text()}`);
    return (await res.json()) as SandboxView;
  }

  /** GET a path, reading the whole body; returns status, total ms and time to first byte. */
  async timedGet(
    pathname: string,
    extraHeaders: Record<string, string> = {},
  ): Promise<{ status: number; ms: number; ttfbMs: number; bytes: number }> {
    const t0 = performance.now();
    const res = await fetch(`${this.url}${pathname}`, { headers: this.headers(extraHeaders), redirect: "manual" });
    const ttfb = performance.now() - t0;
    const body = await res.arrayBuffer();
    return { status: res.status, ms: performance.now() - t0, ttfbMs: ttfb, bytes: body.byteLength };
  }

  /** Follows the sandbox's event stream until `end` (a final state) or the timeout. */
  async follow(id: string, timeoutMs: number): Promise<FollowResult> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`no end event for ${id} within ${timeoutMs} ms`)), timeoutMs);
    const events: StreamEvent[] = [];
    let result: FollowResult | undefined;
    try {
      const res = await this.idempotentFetch(`${this.url}/api/v1/sandboxes/${id}/events`, {
        headers: this.headers({ accept: "text/event-stream" }),
        signal: controller.signal,
      });
      if (res.status !== 200 || !res.body) throw new Error(`events of ${id}: HTTP ${res.status} ${await res.text()}`);
      const decoder = new TextDecoder();
      const parser = new SseParser();
      const reader = res.body.getReader();
      while (!result) {
        const { done, value } = await reader.read();
        if (done) break;
        for (const msg of parser.push(decoder.decode(value, { stream: true }))) {
          const type = msg.event;
          const receivedAt = performance.now();
          const payload = JSON.parse(msg.data) as Record<string, unknown>;
          if (type === "end") {
            result = { final: payload as unknown as SandboxView, endAt: receivedAt, events };
            break;
          }
          if (type === "error") throw new Error(`event stream of ${id} failed: ${String(payload.message)}`);
          events.push({
            receivedAt,
            type,
            id: typeof payload.id === "number" ? payload.id : undefined,
            message: typeof payload.message === "string" ? payload.message : undefined,
            status: typeof payload.status === "string" ? payload.status : undefined,
            at: typeof payload.at === "string" ? payload.at : undefined,
          });
        }
      }
      // The server closes the stream after `end`; cancelling our side is only tidying up.
      await reader.cancel().catch(() => undefined);
      if (!result) throw new Error(`event stream of ${id} closed without an end event`);
      return result;
    } catch (e) {
      if (result) return result;
      if (controller.signal.aborted && controller.signal.reason instanceof Error) throw controller.signal.reason;
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }
}
