// Wake-ups across processes on PostgreSQL. Within a process the notifier wakes the worker and the
// event streams at once; another process (a second web instance, `npm run worker`) used to learn of a
// change only at its next poll — a create sent to a web-only instance waited up to a second for a
// worker elsewhere, and a dashboard on one instance saw another's log lines in one-second steps.
//
// The database says when: triggers (prisma/postgres/migrations/…_wake_notifications) send
// `pg_notify('sandboxer_wake', '<sender> <kind> [<sandbox id>]')` when events are stored (`s <id>`
// per sandbox, `t` for team notices), when an operation becomes claimable (`o`) and when a running
// one is asked to stop (`c <operation id>`, …_cancel_wake), delivered at commit. Each process listens
// on one connection of its own and passes them to its notifier (and tells it whether that connection
// is up, so a running create polls for cancels less while it is); its own writes (sender = its
// application_name, `sandboxer/<pid>`) are skipped, the notifier already fired.
// The polls stay as they were: they cover a lost connection (it reconnects with backoff, and wakes
// everything once back) and writes from anything that bypasses the triggers.
import type pg from "pg";

import type { Notifier } from "../manager/notifier";

export const WAKE_CHANNEL = "sandboxer_wake";
/** Wake-ups are passed on at most this often each (ms). */
const COALESCE_MS = 20;
/** How long close() lets the server acknowledge the end before it drops the socket (ms). */
const CLOSE_WAIT_MS = 1_000;

/** The application_name of this process's connections (createDb), which the triggers put first. */
export function processApplicationName(pid = process.pid): string {
  return `sandboxer/${pid}`;
}

export interface WakeListener {
  /** Notifications passed on (others' writes), for tests and metrics. */
  readonly received: () => number;
  /** Whether the LISTEN connection is up. */
  readonly connected: () => boolean;
  close(): Promise<void>;
}

interface Log {
  info: (obj: object, msg: string) => void;
  warn: (obj: object, msg: string) => void;
}

/** Passes one notification's payload to the notifier; false when it is this process's own or malformed. */
export function dispatchWake(
  payload: string,
  self: string,
  notifier: Pick<Notifier, "operationQueued" | "sandboxChanged" | "teamEvent" | "cancelRequested">,
): boolean {
  const [sender, kind, id] = payload.split(" ");
  if (!sender || sender === self) return false;
  if (kind === "o") notifier.operationQueued();
  else if (kind === "t") notifier.teamEvent();
  else if (kind === "s" && id) notifier.sandboxChanged(id);
  else if (kind === "c" && id) notifier.cancelRequested(id);
  else return false;
  return true;
}

/**
 * LISTENs on the wake channel until closed, reconnecting after a lost connection (1 s, doubling to
 * 30 s). The connection is outside the process's pool (one more per process in the connection budget).
 *
 * A listening connection sends nothing, so a network path that dies without a reset would leave it
 * "up" for good, the notifier counting on wake-ups that never come (and a running create polling for
 * cancels only every 15 s). So it is asked `SELECT 1` every `checkEveryMs` (30 s); no answer within
 * `checkTimeoutMs` (10 s) — or no connection, or no LISTEN, within that time — counts as lost.
 */
export function startWakeListener(
  url: string,
  notifier: Notifier,
  log: Log,
  opts: { maxBackoffMs?: number; checkEveryMs?: number; checkTimeoutMs?: number } = {},
): WakeListener {
  const self = processApplicationName();
  const maxBackoffMs = opts.maxBackoffMs ?? 30_000;
  const checkEveryMs = opts.checkEveryMs ?? 30_000;
  const checkTimeoutMs = opts.checkTimeoutMs ?? 10_000;
  let client: pg.Client | null = null;
  let closed = false;
  let up = false;
  let received = 0;
  const firstBackoffMs = Math.min(1_000, maxBackoffMs);
  let backoffMs = firstBackoffMs;
  let retry: NodeJS.Timeout | null = null;
  /** The liveness check of the connection in use (one at a time). */
  let check: NodeJS.Timeout | null = null;
  const stopCheck = () => {
    if (check) clearInterval(check);
    check = null;
  };
  let outageLogged = false;
  // A busy fleet stores many events a second: the same wake-up arriving again within COALESCE_MS is
  // passed on once (a stream reads once for all of them anyway).
  const pending = new Set<string>();
  let flushTimer: NodeJS.Timeout | null = null;
  const flush = () => {
    flushTimer = null;
    for (const payload of pending) if (dispatchWake(payload, self, notifier)) received++;
    pending.clear();
  };

  const connect = async () => {
    retry = null;
    if (closed) return;
    // Loaded here, not at the top: client.ts imports this module on SQLite too, where pg is not needed.
    const { default: Pg } = await import("pg");
    if (closed) return;
    const c = new Pg.Client({ connectionString: url, application_name: `${self}/wake`, connectionTimeoutMillis: checkTimeoutMs });
    client = c;
    let failed = false;
    const lost = (err?: Error) => {
      if (failed) return;
      failed = true;
      stopCheck();
      up = false;
      notifier.setCrossProcessWake(false);
      c.removeAllListeners("notification");
      void endWithin(c, checkTimeoutMs);
      if (closed) return;
      if (!outageLogged)
        log.warn(
          { err: err?.message },
          "wake-up connection to PostgreSQL is down: other processes' changes are seen at the next poll until it is back",
        );
      outageLogged = true;
      retry = setTimeout(() => void connect(), backoffMs);
      retry.unref();
      backoffMs = Math.min(maxBackoffMs, backoffMs * 2);
    };
    c.on("error", lost);
    c.on("end", () => lost());
    c.on("notification", (n) => {
      if (n.channel !== WAKE_CHANNEL || !n.payload) return;
      pending.add(n.payload);
      flushTimer ??= setTimeout(flush, COALESCE_MS);
    });
    try {
      await c.connect();
      await answered(c.query(`LISTEN ${WAKE_CHANNEL}`), checkTimeoutMs, "LISTEN");
    } catch (err) {
      lost(err as Error);
      return;
    }
    if (closed || failed) return void endWithin(c, checkTimeoutMs);
    check = setInterval(() => {
      answered(c.query("SELECT 1"), checkTimeoutMs, "a liveness check").catch((err: Error) => lost(err));
    }, checkEveryMs);
    check.unref();
    up = true;
    notifier.setCrossProcessWake(true);
    backoffMs = firstBackoffMs;
    if (outageLogged) {
      log.info({}, "wake-up connection back");
      outageLogged = false;
      // What happened meanwhile: the worker and the team streams look now rather than at their next poll.
      notifier.operationQueued();
      notifier.teamEvent();
    }
  };
  void connect();

  return {
    received: () => received,
    connected: () => up,
    async close() {
      closed = true;
      stopCheck();
      if (retry) clearTimeout(retry);
      if (flushTimer) clearTimeout(flushTimer);
      up = false;
      notifier.setCrossProcessWake(false);
      const c = client;
      client = null;
      if (c) {
        c.removeAllListeners("notification");
        await endWithin(c, CLOSE_WAIT_MS);
      }
    },
  };
}

/**
 * Ends the connection politely, or destroys its socket when the server has not acknowledged within
 * `ms`: on a path that died silently it never would, and pg's end() waits for that answer unless a
 * query is in flight — a close() between two liveness checks would wait for TCP to give up (minutes).
 */
function endWithin(c: pg.Client, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      c.connection.stream.destroy();
      resolve();
    }, ms);
    c.end()
      .catch(() => undefined)
      .finally(() => {
        clearTimeout(timer);
        resolve();
      });
  });
}

/** Resolves as `query` does, or rejects when it has not answered within `ms` (the connection is then useless). */
function answered<T>(query: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the wake-up connection did not answer ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([query, timeout]).finally(() => clearTimeout(timer));
}
