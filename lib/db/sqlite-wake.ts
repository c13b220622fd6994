// Wake-ups across processes on the embedded database. PostgreSQL tells each process what others
// committed (lib/db/wake.ts); SQLite has no such channel, so every other process's change used to
// wait for a poll — a sandbox stream read every second, the team stream every 2 s, a running create
// asked for its cancel every second — even on the quick start's one process, where nothing else ever
// writes.
//
// SQLite does say *that* another connection committed: `PRAGMA data_version` on a connection changes
// when any other connection (another process, or another client of this one) has committed since
// that connection last asked, and stays put for its own commits. It is a native call of microseconds,
// asked every `everyMs` (500 ms) on the process's own connection, outside its transactions. When it
// moved, a few indexed reads on the same connection (no Prisma: microseconds too) say what to wake,
// as PostgreSQL's triggers would have: the streams of each sandbox with new events, the team streams
// for new team notices, the worker when an operation is queued, and a running operation here whose
// `cancelRequested` another process set. Nothing moved: nothing is read and no one is woken.
//
// While it runs, the notifier counts other processes' changes as announced (crossProcessWake), so the
// polls become the fallback they are on PostgreSQL (15 s). Its reads of events since the last it saw
// may include this process's own (committed between two of another's): those streams read once for
// nothing. A tick never runs inside this connection's own transaction: there it would see uncommitted
// rows, and an event id a rollback gives back (then another process's) would be passed over.
import type BetterSqlite3 from "better-sqlite3";

import type { Notifier } from "../manager/notifier";
import type { WakeListener } from "./wake";

interface Log {
  warn: (obj: object, msg: string) => void;
}

type NotifierPart = Pick<
  Notifier,
  "operationQueued" | "sandboxChanged" | "teamEvent" | "cancelRequested" | "cancelListeners" | "setCrossProcessWake"
>;

/** The statements a tick runs, prepared once per connection. */
class Reads {
  readonly dataVersion: BetterSqlite3.Statement<[], number>;
  readonly lastEventId: BetterSqlite3.Statement<[], number | null>;
  readonly eventsSince: BetterSqlite3.Statement<[number], { sandboxId: string | null; team: number; last: number }>;
  readonly anyQueued: BetterSqlite3.Statement<[], number>;

  constructor(readonly connection: BetterSqlite3.Database) {
    this.dataVersion = this.prepare<[], number>("PRAGMA data_version").pluck();
    this.lastEventId = this.prepare<[], number | null>(`SELECT MAX("id") FROM "Event"`).pluck();
    // Grouped: a build writing thousands of lines between two ticks is one row per sandbox here.
    this.eventsSince = this.prepare(
      `SELECT "sandboxId", MAX("type" = 'team') AS team, MAX("id") AS last FROM "Event" WHERE "id" > ? GROUP BY "sandboxId"`,
    );
    this.anyQueued = this.prepare<[], number>(`SELECT EXISTS (SELECT 1 FROM "Operation" WHERE "state" = 'queued')`).pluck();
  }

  /**
   * better-sqlite3's own prepare: the connection's `prepare` is the statement cache's (lib/db/
   * statement-cache.ts), which offers only what Prisma's adapter calls.
   */
  private prepare<P extends unknown[], R>(sql: string): BetterSqlite3.Statement<P, R> {
    const own = (Object.getPrototypeOf(this.connection) as BetterSqlite3.Database).prepare;
    // Numbers, not the BigInts the adapter has the connection return by default (ids stay far below 2^53).
    return (own.call(this.connection, sql) as BetterSqlite3.Statement<P, R>).safeIntegers(false);
  }

  cancelled(ids: string[]): string[] {
    const marks = ids.map(() => "?").join(", ");
    return this.prepare<string[], string>(
      `SELECT "id" FROM "Operation" WHERE "cancelRequested" = 1 AND "state" = 'running' AND "id" IN (${marks})`,
    )
      .pluck()
      .all(...ids);
  }
}

/**
 * Watches the connection `connection()` returns (the process's Prisma client's: sqliteConnectionOf)
 * for other connections' commits until closed, passing what they wrote to the notifier. A tick that
 * finds no open connection, or fails, counts as down (the polls take over at their short interval)
 * until one works again; a new connection (the client reconnected) starts from what it sees then and
 * wakes everyone once, since what happened in between is unknown.
 */
export function startSqliteWatcher(
  connection: () => BetterSqlite3.Database | null,
  notifier: NotifierPart,
  log: Log,
  opts: { everyMs?: number } = {},
): WakeListener & { checkNow(): void } {
  const everyMs = opts.everyMs ?? 500;
  let reads: Reads | null = null;
  /** Whether a tick has read the connection before (a later start afresh wakes everyone). */
  let started = false;
  let version = 0;
  let lastEvent = 0;
  let up = false;
  let received = 0;
  let failureLogged = false;
  /** Operations whose cancel was passed on (a tick would otherwise pass it again until they end). */
  const cancelsPassed = new Set<string>();

  const setUp = (value: boolean) => {
    if (up === value) return;
    up = value;
    notifier.setCrossProcessWake(value);
  };

  const wakeEveryone = () => {
    notifier.operationQueued();
    notifier.teamEvent();
  };

  const tick = () => {
    const c = connection();
    if (!c) return setUp(false);
    // Inside this process's transaction a read sees its uncommitted rows (an event id a rollback gives
    // back): wait for the next tick.
    if (c.inTransaction) return;
    try {
      if (reads?.connection !== c) {
        const fresh = new Reads(c);
        version = fresh.dataVersion.get()!;
        lastEvent = fresh.lastEventId.get() ?? 0;
        reads = fresh;
        setUp(true);
        if (started) wakeEveryone();
        started = true;
        return;
      }
      const now = reads.dataVersion.get()!;
      if (now === version) return setUp(true);
      version = now;
      let woke = false;
      for (const row of reads.eventsSince.all(lastEvent)) {
        if (row.sandboxId) notifier.sandboxChanged(row.sandboxId);
        if (row.team) notifier.teamEvent();
        lastEvent = Math.max(lastEvent, row.last);
        woke = true;
      }
      if (reads.anyQueued.get()) {
        notifier.operationQueued();
        woke = true;
      }
      const listening = notifier.cancelListeners();
      for (const id of cancelsPassed) if (!listening.includes(id)) cancelsPassed.delete(id);
      const asked = listening.filter((id) => !cancelsPassed.has(id));
      if (asked.length > 0) {
        for (const id of reads.cancelled(asked)) {
          cancelsPassed.add(id);
          notifier.cancelRequested(id);
          woke = true;
        }
      }
      if (woke) received++;
      setUp(true);
      failureLogged = false;
    } catch (err) {
      // The connection closed under us, or the schema is not there yet (a fresh file mid-migration).
      reads = null;
      setUp(false);
      if (!failureLogged)
        log.warn({ err: (err as Error).message }, "could not watch the embedded database for other processes' changes: polling");
      failureLogged = true;
    }
  };

  tick();
  const timer = setInterval(tick, everyMs);
  timer.unref();

  return {
    /** Looks now, as the timer does every `everyMs` (tests). */
    checkNow: tick,
    received: () => received,
    connected: () => up,
    async close() {
      clearInterval(timer);
      setUp(false);
    },
  };
}
