// The CLI's only way to the server: /api/v1 over fetch with the stored Bearer token. Every failure
// becomes a CliError carrying the server's own message and the exit code for its status; the
// event stream (SSE) reconnects with Last-Event-ID after a dropped connection, so a wait survives
// a server restart or a proxy timeout without repeating or losing a line.
import type { ErrorBody } from "@/lib/http-errors";
import type { SandboxEventView, SandboxView } from "@/lib/manager/views";

import { CliError, EXIT, exitCodeForStatus, isCliError } from "./exit-codes";
import { BodyTooLargeError, httpRequest, type HttpAnswer } from "./http";
import { SseParser } from "./sse";
import { warnOnVersionMismatch } from "./version";

export type StreamItem = { kind: "log" | "state"; event: SandboxEventView } | { kind: "end"; sandbox: SandboxView };

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined>;
  signal?: AbortSignal;
  /** Default 30 s; profile checks connect to hosts and may take longer. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const STREAM_RECONNECTS = 8;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** What the caller's abort means: its reason when it is one of ours, else an interruption. */
export function abortReason(signal: AbortSignal | undefined): CliError {
  const reason: unknown = signal?.reason;
  return isCliError(reason) ? reason : new CliError("INTERRUPTED", "Interrupted", EXIT.INTERRUPTED);
}

export class ApiClient {
  constructor(
    /** The server, e.g. "https://sandboxer.example.com" (no trailing slash). */
    readonly url: string,
    private readonly token: string | null,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { accept: "application/json", ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  private endpoint(path: string, query?: RequestOptions["query"]): URL {
    const u = new URL(`${this.url}/api/v1${path}`);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== false && v !== "") u.searchParams.set(k, String(v));
    return u;
  }

  private unreachable(e: unknown, what: string): CliError {
    // fetch wrapped the socket's error in `cause`; node:http rejects with it directly.
    const err = e as { cause?: { code?: string; message?: string }; code?: string; message?: string };
    const cause = err.cause ?? err;
    const detail = cause.message || cause.code || String(e);
    return new CliError("SERVER_UNREACHABLE", `Cannot reach ${this.url} (${what}): ${detail}`, EXIT.UNREACHABLE);
  }

  /**
   * One request and the reading of its answer (`read`) under one timeout: a server that sends the
   * head and then stalls is cut off like one that never answers.
   */
  private async exchange<T>(method: string, path: string, opts: RequestOptions, read: (res: HttpAnswer) => Promise<T>): Promise<T> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    const what = `${method} ${path}`;
    let res: HttpAnswer;
    try {
      res = await httpRequest(method, this.endpoint(path, opts.query), {
        headers: this.headers(opts.body !== undefined ? { "content-type": "application/json" } : {}),
        body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
        signal,
      });
    } catch (e) {
      throw this.requestError(e, opts.signal, timeout, timeoutMs, what);
    }
    warnOnVersionMismatch(this.url, res);
    try {
      return await read(res);
    } catch (e) {
      if (isCliError(e)) throw e;
      throw this.requestError(e, opts.signal, timeout, timeoutMs, what);
    } finally {
      res.close();
    }
  }

  /** What a failed request means: the caller's abort, our timeout, or an unreachable server. */
  private requestError(e: unknown, caller: AbortSignal | undefined, timeout: AbortSignal, timeoutMs: number, what: string): CliError {
    if (caller?.aborted) return abortReason(caller);
    if (timeout.aborted)
      return new CliError("TIMEOUT", `${this.url} did not answer ${what} within ${Math.round(timeoutMs / 1000)} s`, EXIT.UNREACHABLE);
    if (e instanceof BodyTooLargeError) return new CliError("BAD_RESPONSE", `${what}: ${e.message}`, EXIT.FAILURE);
    return this.unreachable(e, what);
  }

  /** A CliError from an error response: the server's message (and bad fields), the status's exit code. */
  private async failure(res: HttpAnswer, method: string, path: string): Promise<CliError> {
    const text = await res.text().catch(() => "");
    let body: Partial<ErrorBody> = {};
    try {
      body = JSON.parse(text) as Partial<ErrorBody>;
    } catch {
      // Not our JSON (a proxy's error page): report the status.
    }
    let message = body.message ?? `${method} ${path} failed with HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ""}`;
    for (const [field, problems] of Object.entries(body.fieldErrors ?? {})) message += `\n  ${field}: ${problems.join("; ")}`;
    return new CliError(body.code ?? `HTTP_${res.status}`, message, exitCodeForStatus(res.status), {
      status: res.status,
      ...(body.details ?? {}),
    });
  }

  async request<T>(method: "GET" | "POST" | "PATCH" | "DELETE", path: string, opts: RequestOptions = {}): Promise<T> {
    return this.exchange(method, path, opts, async (res) => {
      if (!res.ok) throw await this.failure(res, method, path);
      const text = await res.text();
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new CliError(
          "BAD_RESPONSE",
          `${method} ${path}: the server's answer is not JSON (is ${this.url} a sand-boxer server?)`,
          EXIT.FAILURE,
        );
      }
    });
  }

  get<T>(path: string, opts?: RequestOptions): Promise<T> {
    return this.request<T>("GET", path, opts);
  }

  post<T>(path: string, body: unknown, opts?: RequestOptions): Promise<T> {
    return this.request<T>("POST", path, { ...opts, body });
  }

  patch<T>(path: string, body: unknown, opts?: RequestOptions): Promise<T> {
    return this.request<T>("PATCH", path, { ...opts, body });
  }

  delete<T>(path: string, opts?: RequestOptions): Promise<T> {
    return this.request<T>("DELETE", path, opts);
  }

  /**
   * A sandbox's log and state changes as they happen, ending with `end` (the sandbox in a final
   * state). Reconnects after a dropped stream, resuming after the last event seen.
   */
  async *events(id: string, opts: { signal?: AbortSignal } = {}): AsyncGenerator<StreamItem> {
    const path = `/sandboxes/${encodeURIComponent(id)}/events`;
    let last = 0;
    let failures = 0;
    let retryMs = 1_000;
    for (;;) {
      let res: HttpAnswer | undefined;
      try {
        res = await httpRequest("GET", this.endpoint(path), {
          headers: this.headers({ accept: "text/event-stream", ...(last > 0 ? { "last-event-id": String(last) } : {}) }),
          signal: opts.signal,
        });
      } catch (e) {
        if (opts.signal?.aborted) throw abortReason(opts.signal);
        if (++failures > STREAM_RECONNECTS) throw this.unreachable(e, `GET ${path}`);
      }
      if (res) {
        warnOnVersionMismatch(this.url, res);
        if (!res.ok) {
          const failure = await this.failure(res, "GET", path);
          res.close();
          throw failure;
        }
        const parser = new SseParser();
        const decoder = new TextDecoder();
        try {
          for await (const chunk of res.chunks()) {
            for (const msg of parser.push(decoder.decode(chunk, { stream: true }))) {
              if (msg.event === "log" || msg.event === "state") {
                const event = JSON.parse(msg.data) as SandboxEventView;
                last = event.id;
                failures = 0;
                yield { kind: msg.event, event };
              } else if (msg.event === "end") {
                yield { kind: "end", sandbox: JSON.parse(msg.data) as SandboxView };
                return;
              }
              // `error` (the server's stream failed): fall through to a reconnect.
            }
          }
        } catch (e) {
          if (opts.signal?.aborted) throw abortReason(opts.signal);
          if (isCliError(e)) throw e;
          // The connection dropped mid-stream: reconnect below.
        } finally {
          res.close();
        }
        retryMs = Math.min(parser.retryMs ?? retryMs, 2_000);
        if (++failures > STREAM_RECONNECTS)
          throw new CliError("STREAM_FAILED", `The event stream of ${id} kept dropping; see \`sandboxer show ${id}\``, EXIT.UNREACHABLE);
      }
      await sleep(retryMs * Math.min(failures, 3), opts.signal);
      if (opts.signal?.aborted) throw abortReason(opts.signal);
    }
  }
}
