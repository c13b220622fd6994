// The team stream hands events out in id order and never past one that may still appear. Event ids are
// taken at insert and become visible at commit: on PostgreSQL, with two writers, a later id can be
// visible while an earlier one is still in an open transaction. A reader that moved past the earlier
// id would never deliver that event (a dashboard missing a state change until it reloads, the CLI a
// log line). The same for a sandbox's own event stream.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { appendEvents, latestEventId, listSandboxEvents, readStreamEvents, visibleEventHorizon, type EventInput } from "@/lib/db/events";
import type { Logger } from "@/lib/logger";
import { sandboxEventStream, type StreamItem } from "@/lib/manager/event-stream";
import type { Manager } from "@/lib/manager/manager";
import { Notifier } from "@/lib/manager/notifier";
import { TeamStreamHub, type StreamSink } from "@/lib/manager/team-stream";
import { newSandboxId } from "@/lib/sandbox-id";

import { createTestDatabase, PROVIDERS, type TestDatabase } from "../support/databases";
import { plantSandboxRow } from "../support/sandbox-rows";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const team = (topic: string): EventInput => ({ type: "team", message: topic, action: topic, data: { topic } });
const quietLogger = { info() {}, warn() {}, error() {}, debug() {} } as unknown as Logger;

/** A stream's frames as the client would parse them. */
function collector() {
  const frames: { id?: number; event: string; data: unknown }[] = [];
  const sink: StreamSink = {
    write(text) {
      for (const block of text.split("\n\n")) {
        const lines = block.split("\n").filter((l) => l && !l.startsWith(":"));
        if (lines.length === 0) continue;
        const field = (name: string) => lines.find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
        const id = field("id");
        frames.push({
          id: id === undefined ? undefined : Number(id),
          event: field("event") ?? "",
          data: JSON.parse(field("data") ?? "null"),
        });
      }
      return true;
    },
    close() {},
  };
  const topics = () => frames.filter((f) => f.event === "team").map((f) => (f.data as { topic: string }).topic);
  return { frames, sink, topics };
}

async function waitFor(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Holds a transaction open after inserting `event` until `commit()` (or `rollback()`). */
async function openTransaction(t: TestDatabase, event: EventInput) {
  let end!: (commit: boolean) => void;
  const ended = new Promise<boolean>((r) => (end = r));
  let inserted!: () => void;
  const didInsert = new Promise<void>((r) => (inserted = r));
  const done = t.db
    .$transaction(async (tx) => {
      await appendEvents(tx, [event]);
      inserted();
      if (!(await ended)) throw new Error("rolled back on purpose");
    })
    .catch((e: Error) => {
      if (e.message !== "rolled back on purpose") throw e;
    });
  await didInsert;
  return {
    commit: async () => (end(true), done),
    rollback: async () => (end(false), done),
  };
}

describe.each(PROVIDERS)("team stream order on %s", (provider) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(provider);
  });
  afterAll(async () => t?.drop());

  it("an audit entry between two notices is passed, not waited for: the read hands out both and continues after the last", async () => {
    const before = await latestEventId(t.db);
    await appendEvents(t.db, [team("first")]);
    await appendEvents(t.db, [{ type: "audit", message: "sandbox.create by someone", action: "sandbox.create", result: "ok" }]);
    await appendEvents(t.db, [team("second")]);
    const read = await readStreamEvents(t.db, before, 50, { graceMs: 60_000 });
    expect(read.waiting).toBe(false);
    expect(read.rows.map((r) => r.action)).toEqual(["first", "second"]);
    expect(read.lastId).toBe(before + 3);
    expect(await latestEventId(t.db, { graceMs: 60_000 })).toBe(before + 3);
    // A sandbox's stream asks how far every id is visible: on SQLite, always (and without a query).
    expect(await visibleEventHorizon(t.db)).toBe(provider === "sqlite" ? Number.POSITIVE_INFINITY : before + 3);
  });
});

describe("team stream order on postgresql, two writers", () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase("postgresql");
  });
  afterAll(async () => t?.drop());

  function hub(opts: { gapGraceMs: number; pollWithWakeMs?: number }) {
    const m = { db: t.db, notifier: new Notifier(), streamSnapshot: async () => null, logger: quietLogger };
    return {
      h: new TeamStreamHub(m, { pollMs: 50, pollWithWakeMs: 50, gapRecheckMs: 20, heartbeatMs: 60_000, ...opts }),
      notifier: m.notifier,
    };
  }

  it("while wake-ups arrive the hub's idle poll is slow, yet an earlier id still being committed is looked for again soon", async () => {
    const idleReads = async (wake: boolean) => {
      const { h, notifier } = hub({ gapGraceMs: 60_000, pollWithWakeMs: 60_000 });
      notifier.setCrossProcessWake(wake);
      const c = collector();
      const close = await h.open("p1", null, c.sink);
      await waitFor("the ready frame", () => c.frames.some((f) => f.event === "ready"));
      const from = h.reads;
      await sleep(500);
      const reads = h.reads - from;
      close();
      return reads;
    };
    expect(await idleReads(false)).toBeGreaterThanOrEqual(5); // a 50-ms poll
    expect(await idleReads(true)).toBeLessThanOrEqual(1);

    const before = await latestEventId(t.db);
    const { h, notifier } = hub({ gapGraceMs: 60_000, pollWithWakeMs: 60_000 });
    notifier.setCrossProcessWake(true);
    const live = collector();
    const close = await h.open("p1", null, live.sink);
    await waitFor("the ready frame", () => live.frames.some((f) => f.event === "ready"));
    const early = await openTransaction(t, team("early"));
    await appendEvents(t.db, [team("late")]);
    notifier.teamEvent(); // the wake-up for "late"; the commit of "early" sends none here
    await sleep(200);
    expect(live.topics()).toEqual([]);
    await early.commit();
    await waitFor("both notices, without another wake-up", () => live.topics().length === 2, 3_000);
    expect(live.topics()).toEqual(["early", "late"]);
    expect(live.frames.filter((f) => f.event === "team").map((f) => f.id)).toEqual([before + 1, before + 2]);
    close();
  });

  it("an event committed after a later one is still delivered, before it, to a live stream and to one resuming", async () => {
    const before = await latestEventId(t.db);
    const { h, notifier } = hub({ gapGraceMs: 60_000 });
    const live = collector();
    const closeLive = await h.open("p1", null, live.sink);
    await waitFor("the live stream's ready frame", () => live.frames.some((f) => f.event === "ready"));

    const early = await openTransaction(t, team("early")); // takes id before+1, not visible yet
    await appendEvents(t.db, [team("late")]); // id before+2, visible now
    notifier.teamEvent();

    // What every reader sees meanwhile: nothing past the open transaction's id.
    const read = await readStreamEvents(t.db, before, 50, { graceMs: 60_000 });
    expect(read).toMatchObject({ waiting: true, lastId: before, rows: [] });
    expect(await latestEventId(t.db, { graceMs: 60_000 })).toBe(before);
    const resuming = collector();
    const closeResuming = await h.open("p2", before, resuming.sink);
    await sleep(300); // the hub looked again ~15 times by now
    expect(live.topics()).toEqual([]);
    expect(resuming.topics()).toEqual([]);
    expect(resuming.frames.find((f) => f.event === "ready")?.id).toBe(before || undefined);

    await early.commit();
    await waitFor("both notices on both streams", () => live.topics().length === 2 && resuming.topics().length === 2);
    expect(live.topics()).toEqual(["early", "late"]);
    expect(resuming.topics()).toEqual(["early", "late"]);
    expect(live.frames.filter((f) => f.event === "team").map((f) => f.id)).toEqual([before + 1, before + 2]);
    closeLive();
    closeResuming();
  });

  it("a sandbox's own stream does not pass a log line another writer is still committing", async () => {
    await t.db.user.upsert({ where: { id: "u_order" }, create: { id: "u_order", name: "Ada", email: "order@example.test" }, update: {} });
    const id = newSandboxId();
    await plantSandboxRow(t.db, {
      id,
      ownerId: "u_order",
      profileId: "profile.a",
      extensionId: "ext.fake",
      status: "creating",
      params: {},
      input: {},
    });
    const notifier = new Notifier();
    const m = {
      notifier,
      eventHorizon: () => visibleEventHorizon(t.db),
      sandboxEvents: async (sid: string, after: number, limit: number) =>
        (await listSandboxEvents(t.db, sid, { afterId: after, limit })).map((e) => ({
          id: e.id,
          type: e.type,
          level: e.level,
          message: e.message,
          at: "",
        })),
      sandboxStatus: async () => "creating",
      getSandbox: async () => ({ id }),
    } as unknown as Manager;
    const line = (message: string): EventInput => ({ sandboxId: id, type: "log", message });
    const ac = new AbortController();
    const stream = sandboxEventStream(m, id, { after: await latestEventId(t.db), signal: ac.signal, pollMs: 50 });
    const got: string[] = [];
    const reading = (async () => {
      for (let r = await stream.next(); !r.done; r = await stream.next()) {
        const item: StreamItem = r.value;
        if (item.kind === "event") got.push(item.event.message);
        if (got.length === 2) return;
      }
    })();
    const early = await openTransaction(t, line("early (a worker's log line)"));
    await appendEvents(t.db, [line("late (committed first)")]);
    notifier.sandboxChanged(id);
    await sleep(300);
    expect(got).toEqual([]);
    await early.commit();
    await reading;
    expect(got).toEqual(["early (a worker's log line)", "late (committed first)"]);
    ac.abort();
  });

  it("an insert in flight is not passed over however many events commit after it (more than one page of the newest ids)", async () => {
    const before = await latestEventId(t.db, { graceMs: 60_000 });
    const early = await openTransaction(t, team("early, still committing"));
    // 50 creates logging at once commit this many in a moment; the horizon used to look at the newest 50 only.
    await appendEvents(
      t.db,
      Array.from({ length: 300 }, (_, i) => team(`later ${i}`)),
    );
    expect(await latestEventId(t.db, { graceMs: 60_000 })).toBe(before);
    expect(await readStreamEvents(t.db, before, 500, { graceMs: 60_000 })).toMatchObject({ waiting: true, lastId: before, rows: [] });
    await early.commit();
    expect(await latestEventId(t.db, { graceMs: 60_000 })).toBe(before + 301);
    // With no grace (every gap one that will not fill) the same.
    expect(await latestEventId(t.db, { graceMs: 0 })).toBe(before + 301);
  });

  it("a rolled-back insert leaves a gap that never fills: the stream passes it once the grace is over", async () => {
    const before = await latestEventId(t.db);
    const lost = await openTransaction(t, team("lost"));
    await lost.rollback();
    await appendEvents(t.db, [team("after the gap")]);
    // Within the grace the read waits; past it (grace 0 here) the gap is passed.
    expect(await readStreamEvents(t.db, before, 50, { graceMs: 60_000 })).toMatchObject({ waiting: true, lastId: before });
    const passed = await readStreamEvents(t.db, before, 50, { graceMs: 0 });
    expect(passed.waiting).toBe(false);
    expect(passed.rows.map((r) => r.action)).toEqual(["after the gap"]);
    expect(passed.lastId).toBe(before + 2);

    const { h } = hub({ gapGraceMs: 500 });
    const c = collector();
    const close = await h.open("p3", before, c.sink);
    await waitFor("the notice after the gap", () => c.topics().length === 1);
    expect(c.topics()).toEqual(["after the gap"]);
    close();
  });
});
