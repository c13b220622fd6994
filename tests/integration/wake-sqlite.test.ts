// Wake-ups across processes on the embedded database (lib/db/sqlite-wake.ts), against a real SQLite
// file: what another connection commits reaches this process's notifier within a tick — the streams
// of exactly the sandboxes it wrote events for, the team streams for a team notice, the worker for a
// queued operation, a running operation here for its cancel (once) — and what this process's own
// client writes wakes no one. The other "process" is a second better-sqlite3 connection on the file,
// used only for single autocommit statements (two connections in one process must never wait on each
// other's transactions: their busy-waits block the event loop).
import BetterSqlite3 from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { sqliteConnectionOf } from "@/lib/db/client";
import { startSqliteWatcher } from "@/lib/db/sqlite-wake";
import type { WakeListener } from "@/lib/db/wake";
import { Notifier } from "@/lib/manager/notifier";

import { createTestDatabase, type TestDatabase } from "../support/databases";
import { plantReadySandbox } from "../support/sandbox-rows";
import { recordWakeUps, SENTINEL_TEAM_NOTICE } from "../support/wake-recorder";

const TICK_MS = 40;
/** What the watchers logged (nothing, unless a tick failed). */
const warnings: string[] = [];
const log = { warn: (_o: object, msg: string) => warnings.push(msg) };

describe("wake-ups across processes on the embedded database", () => {
  let database: TestDatabase;
  let other: BetterSqlite3.Database;
  let watcher: WakeListener;
  const notifier = new Notifier();
  const { seen, count, arrival, barrier: barrierThrough } = recordWakeUps(notifier);
  /** A team notice from the other connection, then waits for it: everything it committed before was looked at. */
  const barrier = () => barrierThrough(() => other.prepare(SENTINEL_TEAM_NOTICE).run());
  const sandbox = () => plantReadySandbox(database.db, "u_wake");
  const otherEvent = (sandboxId: string, message: string) =>
    other.prepare(`INSERT INTO "Event" ("sandboxId", "type", "message") VALUES (?, 'log', ?)`).run(sandboxId, message);
  /** An operation this process wrote (its own write: no wake-up), in `state`. */
  const operation = async (sandboxId: string, state: string) => {
    const id = `op_${sandboxId}_${state}`;
    await database.db.operation.create({ data: { id, kind: "create", sandboxId, state, runAfter: new Date() } });
    return id;
  };

  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
    await database.db.user.create({ data: { id: "u_wake", name: "Wake", email: "wake@example.test" } });
    other = new BetterSqlite3(database.config.provider === "sqlite" ? database.config.file : "", { timeout: 5_000 });
    const client = database.db;
    watcher = startSqliteWatcher(() => sqliteConnectionOf(client), notifier, log, { everyMs: TICK_MS });
  }, 60_000);

  afterAll(async () => {
    await watcher?.close();
    other?.close();
    await database?.drop();
  });

  it("is up once it has the process's connection, and counts other processes' changes as announced", async () => {
    expect(watcher.connected()).toBe(true);
    expect(notifier.crossProcessWake).toBe(true);
    expect(notifier.fallbackPollMs(1_000, 15_000)).toBe(15_000);
  });

  it("another process's events wake the streams of their sandbox only; a team notice wakes the team streams", async () => {
    const [a, b, quietOne] = [await sandbox(), await sandbox(), await sandbox()];
    // Several lines of two sandboxes between two ticks (a build writing fast): one wake-up each.
    const many = other.transaction(() => {
      for (let i = 0; i < 50; i++) otherEvent(a, `a ${i}`);
      otherEvent(b, "b");
    });
    many();
    await arrival(`s ${a}`);
    await arrival(`s ${b}`);
    await barrier();
    expect(count(`s ${a}`)).toBe(1);
    expect(count(`s ${b}`)).toBe(1);
    expect(seen).not.toContain(`s ${quietOne}`);
    expect(watcher.received()).toBeGreaterThan(0);
  });

  it("skips this process's own writes: its notifier fired already", async () => {
    const id = await sandbox();
    await database.db.event.create({ data: { sandboxId: id, type: "log", message: "mine" } });
    const before = watcher.received();
    // Several ticks with only this process writing: nothing read, nothing woken.
    await new Promise((r) => setTimeout(r, TICK_MS * 5));
    expect(watcher.received()).toBe(before);
    expect(seen).not.toContain(`s ${id}`);
  });

  it("an operation queued by another process wakes the worker; updates that leave nothing queued do not", async () => {
    const id = await sandbox();
    const op = await operation(id, "running");
    const before = count("o");
    other.prepare(`UPDATE "Operation" SET "heartbeatAt" = "updatedAt" WHERE "id" = ?`).run(op);
    await barrier();
    expect(count("o")).toBe(before);
    // Put back in the queue (a retry, the reaper in another process): claimable, so a wake-up.
    other.prepare(`UPDATE "Operation" SET "state" = 'queued' WHERE "id" = ?`).run(op);
    await arrival("o", before + 1);
    await database.db.operation.update({ where: { id: op }, data: { state: "succeeded" } });
  });

  it("a running operation here asked to stop by another process is told once; a queued one's request is not passed on", async () => {
    const id = await sandbox();
    const running = await operation(id, "running");
    const queued = await operation(id, "queued");
    const got: string[] = [];
    const offRunning = notifier.onCancelRequested(running, () => got.push(running));
    const offQueued = notifier.onCancelRequested(queued, () => got.push(queued));
    try {
      expect(notifier.cancelListeners().sort()).toEqual([queued, running].sort());
      await barrier();
      expect(got).toEqual([]);
      // What requestCancel does (lib/db/operations.ts), from the other process.
      other.prepare(`UPDATE "Operation" SET "cancelRequested" = 1 WHERE "id" IN (?, ?)`).run(running, queued);
      await barrier();
      // Later changes (the cancel is still set while the operation winds down) do not repeat it.
      otherEvent(id, "later");
      await barrier();
      expect(got).toEqual([running]);
    } finally {
      offRunning();
      offQueued();
      await database.db.operation.updateMany({ where: { id: { in: [running, queued] } }, data: { state: "succeeded" } });
    }
    expect(notifier.cancelListeners()).toEqual([]);
    expect(warnings).toEqual([]);
  });

  it("does not look inside this process's own transaction: an event id its rollback gives back, then another process's, is not passed over", async () => {
    const local = new Notifier();
    const woken: string[] = [];
    local.onSandboxChanged("*", (id) => woken.push(id));
    const client = database.db;
    const w = startSqliteWatcher(() => sqliteConnectionOf(client), local, log, { everyMs: 3_600_000 });
    try {
      const [before, mine, theirs] = [await sandbox(), await sandbox(), await sandbox()];
      // Another process commits (the watch has something to read), then this process opens a
      // transaction and writes an event it will roll back, and the watch looks in the middle.
      otherEvent(before, "before");
      let givenBack = 0;
      await client
        .$transaction(async (tx) => {
          givenBack = (await tx.event.create({ data: { sandboxId: mine, type: "log", message: "rolled back" } })).id;
          w.checkNow();
          throw new Error("roll back");
        })
        .catch(() => undefined);
      // The id the rollback gave back goes to the other process's next event.
      const reused = otherEvent(theirs, "after the rollback").lastInsertRowid;
      w.checkNow();
      expect(woken).toContain(before);
      expect(woken).toContain(theirs);
      expect(woken).not.toContain(mine);
      expect(Number(reused)).toBe(givenBack);
    } finally {
      await w.close();
    }
  });

  it("on a new connection (the client reconnected) it starts afresh and wakes the worker and team streams once; closed, the polls take over", async () => {
    const own = sqliteConnectionOf(database.db)!;
    let current: BetterSqlite3.Database | null = own;
    const local = new Notifier();
    const woken: string[] = [];
    local.onOperationQueued(() => woken.push("o"));
    local.onTeamEvent(() => woken.push("t"));
    const w = startSqliteWatcher(() => current, local, log, { everyMs: TICK_MS });
    try {
      expect(local.crossProcessWake).toBe(true);
      // No connection (the client disconnected): down, and the polls are the short ones again.
      current = null;
      await expect.poll(() => local.crossProcessWake, { timeout: 2_000, interval: 10 }).toBe(false);
      const second = new BetterSqlite3(database.config.provider === "sqlite" ? database.config.file : "", { readonly: true });
      try {
        current = second;
        await expect.poll(() => local.crossProcessWake, { timeout: 2_000, interval: 10 }).toBe(true);
        expect(woken).toEqual(["o", "t"]);
      } finally {
        current = own;
        await new Promise((r) => setTimeout(r, TICK_MS * 3));
        second.close();
      }
    } finally {
      await w.close();
    }
    expect(local.crossProcessWake).toBe(false);
    expect(w.connected()).toBe(false);
  });
});
