// Wake-ups across processes on PostgreSQL (lib/db/wake.ts and the triggers of the wake_notifications
// and cancel_wake migrations), against a real database: what another process writes reaches this one's notifier;
// what this process writes, a running operation's heartbeat or a rolled-back write does not; a lost
// LISTEN connection comes back on its own. "Does not" is checked against a later notification that
// did arrive: PostgreSQL delivers notifications in commit order on one connection.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { processApplicationName, startWakeListener, type WakeListener } from "@/lib/db/wake";
import { Notifier } from "@/lib/manager/notifier";

import { startRelay } from "../../bench/relay";
import { createTestDatabase, type TestDatabase } from "../support/databases";
import { plantReadySandbox } from "../support/sandbox-rows";
import { recordWakeUps, SENTINEL_TEAM_NOTICE } from "../support/wake-recorder";

const quiet = { info: () => {}, warn: () => {} };

describe("wake-ups across processes on PostgreSQL", () => {
  let database: TestDatabase;
  let other: pg.Client; // another process's connection, as the triggers see it
  let listener: WakeListener;
  const notifier = new Notifier();
  const { seen, count, arrival, barrier: barrierThrough } = recordWakeUps(notifier);
  /** A team notice from the other process, then waits for it: everything committed before it has arrived. */
  const barrier = () => barrierThrough(() => other.query(SENTINEL_TEAM_NOTICE));
  const sandbox = () => plantReadySandbox(database.db, "u_wake");
  const operation = (id: string, sandboxId: string, state: string) =>
    other.query(
      `INSERT INTO "Operation" ("id", "kind", "sandboxId", "state", "runAfter", "createdAt", "updatedAt") VALUES ($1, 'create', $2, $3, now(), now(), now())`,
      [id, sandboxId, state],
    );

  beforeAll(async () => {
    database = await createTestDatabase("postgresql");
    await database.db.user.create({ data: { id: "u_wake", name: "Wake", email: "wake@example.test" } });
    other = new pg.Client({ connectionString: database.config.url, application_name: processApplicationName(process.pid + 100_000) });
    await other.connect();
    listener = startWakeListener(database.config.url, notifier, quiet, { maxBackoffMs: 200 });
    const until = Date.now() + 10_000;
    while (!listener.connected()) {
      if (Date.now() > until) throw new Error("the wake-up listener did not connect");
      await new Promise((r) => setTimeout(r, 20));
    }
  }, 60_000);

  afterAll(async () => {
    await listener?.close();
    await other?.end();
    await database?.drop();
  });

  it("another process's events wake the streams of their sandbox; a team notice wakes the team streams", async () => {
    const id = await sandbox();
    await other.query(`INSERT INTO "Event" ("sandboxId", "type", "message") VALUES ($1, 'log', 'a'), ($1, 'log', 'b')`, [id]);
    await arrival(`s ${id}`);
    // One statement of two rows: one wake-up for the sandbox.
    await barrier();
    expect(count(`s ${id}`)).toBe(1);
  });

  it("a queued operation wakes the worker; a claim, heartbeat or end of a running one does not", async () => {
    const id = await sandbox();
    const before = count("o");
    await operation(`op_${id}`, id, "queued");
    await arrival("o");
    expect(count("o")).toBe(before + 1);
    await other.query(`UPDATE "Operation" SET "state" = 'running', "heartbeatAt" = now() WHERE "id" = $1`, [`op_${id}`]);
    await other.query(`UPDATE "Operation" SET "heartbeatAt" = now() WHERE "id" = $1`, [`op_${id}`]);
    await other.query(`UPDATE "Operation" SET "state" = 'succeeded' WHERE "id" = $1`, [`op_${id}`]);
    await barrier();
    expect(count("o")).toBe(before + 1);
    // Put back in the queue (a retry): claimable again, so a wake-up.
    await other.query(`UPDATE "Operation" SET "state" = 'queued' WHERE "id" = $1`, [`op_${id}`]);
    await barrier();
    expect(count("o")).toBe(before + 2);
  });

  it("a running operation asked to stop wakes whoever runs it, once; a queued one's or a repeated request does not", async () => {
    const id = await sandbox();
    const running = `op_${id}`;
    const queued = `op_q_${id}`;
    const got: string[] = [];
    const offRunning = notifier.onCancelRequested(running, () => got.push(running));
    const offQueued = notifier.onCancelRequested(queued, () => got.push(queued));
    try {
      await operation(running, id, "running");
      await operation(queued, id, "queued");
      // A heartbeat sets other columns: no cancel wake-up.
      await other.query(`UPDATE "Operation" SET "heartbeatAt" = now() WHERE "id" = $1`, [running]);
      await barrier();
      expect(got).toEqual([]);
      // What requestCancel does (lib/db/operations.ts), from the other process.
      await other.query(`UPDATE "Operation" SET "cancelRequested" = true WHERE "id" = $1`, [running]);
      // Asked again (a second destroy): already true, no second wake-up. A queued row: cancelled, not woken.
      await other.query(`UPDATE "Operation" SET "cancelRequested" = true WHERE "id" = $1`, [running]);
      await other.query(`UPDATE "Operation" SET "cancelRequested" = true WHERE "id" = $1`, [queued]);
      await barrier();
      expect(got).toEqual([running]);
      expect(notifier.crossProcessWake).toBe(true);
    } finally {
      offRunning();
      offQueued();
    }
  });

  it("skips this process's own writes (its notifier fired already) and rolled-back ones", async () => {
    const id = await sandbox();
    await database.db.event.create({ data: { sandboxId: id, type: "log", message: "mine" } }); // application_name sandboxer/<this pid>
    await other.query("BEGIN");
    await other.query(`INSERT INTO "Event" ("sandboxId", "type", "message") VALUES ($1, 'log', 'rolled back')`, [id]);
    await other.query("ROLLBACK");
    await barrier();
    expect(seen).not.toContain(`s ${id}`);
    expect(listener.received()).toBeGreaterThan(0);
  });

  it("comes back after its connection is killed, and wakes the worker and team streams once it is", async () => {
    const killed = await other.query<{ ok: boolean }>(
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1`,
      [`${processApplicationName()}/wake`],
    );
    expect(killed.rows.map((r) => r.ok)).toEqual([true]);
    const before = count("o");
    const until = Date.now() + 10_000;
    // Down first (the kill is seen: the notifier no longer counts on wake-ups), then up again.
    while (listener.connected() && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    expect(notifier.crossProcessWake).toBe(false);
    while (!listener.connected() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(listener.connected()).toBe(true);
    expect(notifier.crossProcessWake).toBe(true);
    await arrival("o");
    expect(count("o")).toBeGreaterThan(before);
    const id = await sandbox();
    await other.query(`INSERT INTO "Event" ("sandboxId", "type", "message") VALUES ($1, 'log', 'after')`, [id]);
    await arrival(`s ${id}`);
  });

  /**
   * PostgreSQL reached through a relay, whose open connections can be made to drop everything without a
   * reset (relay.silenceOpen()), as on a network path that died silently.
   */
  async function throughRelay() {
    const upstream = new URL(database.config.url);
    const relay = await startRelay({ upstreamHost: upstream.hostname, upstreamPort: Number(upstream.port || 5432), rttMs: 0 });
    const url = new URL(database.config.url);
    url.port = String(relay.port);
    return { relay, url: url.toString() };
  }

  it("close() returns while the connection's path is silent, before any liveness check has noticed", async () => {
    // pg's end() waits for the server to acknowledge unless a query is in flight; on a silent path
    // that answer never comes, and a close between two liveness checks waited for it.
    const { relay, url: viaRelay } = await throughRelay();
    const notes = new Notifier();
    const l = startWakeListener(viaRelay, notes, quiet, { checkEveryMs: 60_000, checkTimeoutMs: 10_000 });
    try {
      await expect.poll(() => l.connected(), { timeout: 10_000, interval: 20, message: "connected through the relay" }).toBe(true);
      relay.silenceOpen();
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        l.close().then(() => "closed"),
        new Promise((r) => (timer = setTimeout(() => r("still closing after 8 s"), 8_000))),
      ]);
      clearTimeout(timer);
      expect(outcome).toBe("closed");
      expect(notes.crossProcessWake).toBe(false);
    } finally {
      await relay.close();
    }
  });

  it("a listening connection whose network path dies silently is found by its liveness check and replaced", async () => {
    // Through a relay gone silent the listener hears nothing, and would count on wake-ups for good.
    const { relay, url: viaRelay } = await throughRelay();
    const notes = new Notifier();
    const heard: string[] = [];
    notes.onSandboxChanged("*", (id) => heard.push(id));
    const l = startWakeListener(viaRelay, notes, quiet, { maxBackoffMs: 200, checkEveryMs: 200, checkTimeoutMs: 400 });
    const until = (cond: () => boolean, what: string) => expect.poll(cond, { timeout: 10_000, interval: 20, message: what }).toBe(true);
    try {
      await until(() => l.connected() && notes.crossProcessWake, "connected through the relay");
      relay.silenceOpen();
      await until(() => !l.connected() && !notes.crossProcessWake, "the silent connection counted as lost");
      await until(() => l.connected() && notes.crossProcessWake, "a new connection listening");
      expect(relay.connections()).toBeGreaterThanOrEqual(2);
      const id = await sandbox();
      await other.query(`INSERT INTO "Event" ("sandboxId", "type", "message") VALUES ($1, 'log', 'heard again')`, [id]);
      await until(() => heard.includes(id), "a wake-up through the new connection");
    } finally {
      await l.close();
      await relay.close();
    }
  });
});
