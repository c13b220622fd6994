// The event stream over a fake manager: every event once and in order, `end` after a final status
// with the events written before it, and the status read once (later ones come with state events).
import { describe, expect, it } from "vitest";

import { sandboxEventStream, type StreamItem } from "./event-stream";
import type { Manager } from "./manager";
import { Notifier } from "./notifier";
import type { SandboxStatus } from "./states";
import type { SandboxEventView, SandboxView } from "./views";

/** A sandbox whose events and status a test writes, as transitions.ts does: a status with its state event. */
function fakeSandbox(initial: SandboxStatus = "creating") {
  const notifier = new Notifier();
  const events: SandboxEventView[] = [];
  let status: SandboxStatus = initial;
  let statusReads = 0;
  let eventReads = 0;
  let viewReads = 0;
  /** Events above it are "still being committed by another process" (Manager.eventHorizon). */
  let horizon = Number.POSITIVE_INFINITY;
  const log = (message: string) => {
    events.push({ id: events.length + 1, type: "log", level: "info", message, at: new Date().toISOString() });
    notifier.sandboxChanged("s1");
  };
  /** `named: false`: a state event that does not say which status it wrote (the stream must read it). */
  const move = (to: SandboxStatus, opts: { named?: boolean } = {}) => {
    status = to;
    const named = opts.named ?? true;
    events.push({
      id: events.length + 1,
      type: "state",
      level: "info",
      message: `→ ${to}`,
      at: new Date().toISOString(),
      status: named ? to : "",
    });
    notifier.sandboxChanged("s1");
  };
  const manager = {
    notifier,
    sandboxEvents: async (_id: string, after: number, limit: number) => {
      eventReads++;
      return events.filter((e) => e.id > after).slice(0, limit);
    },
    sandboxStatus: async () => {
      statusReads++;
      return status;
    },
    getSandbox: async () => {
      viewReads++;
      return { id: "s1", status } as unknown as SandboxView;
    },
    eventHorizon: async () => horizon,
  } as unknown as Manager;
  return {
    manager,
    log,
    move,
    statusReads: () => statusReads,
    eventReads: () => eventReads,
    viewReads: () => viewReads,
    setHorizon: (h: number) => (horizon = h),
  };
}

/** Pulls items until `until` holds or the stream ends, leaving the stream open (no `for await … break`). */
async function collect(stream: AsyncGenerator<StreamItem>, until: (items: StreamItem[]) => boolean, items: StreamItem[] = []) {
  for (let r = await stream.next(); !r.done; r = await stream.next()) {
    items.push(r.value);
    if (until(items)) break;
  }
  return items;
}

const messages = (items: StreamItem[]) => items.flatMap((i) => (i.kind === "event" ? [i.event.message] : []));

describe("sandboxEventStream", () => {
  it("sends every event once, in order, then `end` once the status is final; reads the status once, then takes it from state events", async () => {
    const s = fakeSandbox();
    const ac = new AbortController();
    const stream = sandboxEventStream(s.manager, "s1", { after: 0, signal: ac.signal, pollMs: 60_000 });
    const items: StreamItem[] = [];
    const first = collect(stream, (got) => got.length === 1, items);
    await new Promise((r) => setTimeout(r, 20)); // the stream has read (nothing yet) and waits
    s.log("Syncing…");
    await first;
    expect(s.statusReads()).toBe(1);
    // Log lines wake the stream; none of them can change the status.
    for (let i = 0; i < 5; i++) {
      s.log(`line ${i}`);
      await collect(stream, (got) => got.length === 2 + i, items);
    }
    expect(s.statusReads()).toBe(1);
    s.move("ready");
    s.log("after ready");
    await collect(stream, (got) => got.at(-1)?.kind === "end", items);
    expect(messages(items)).toEqual(["Syncing…", "line 0", "line 1", "line 2", "line 3", "line 4", "→ ready", "after ready"]);
    expect(items.at(-1)).toMatchObject({ kind: "end", sandbox: { status: "ready" } });
    // The state event named `ready`: no read for it.
    expect(s.statusReads()).toBe(1);
    ac.abort();
  });

  it("a transient state event goes on without a read; one that names no status is read from the row", async () => {
    const s = fakeSandbox("queued");
    const ac = new AbortController();
    const stream = sandboxEventStream(s.manager, "s1", { after: 0, signal: ac.signal, pollMs: 60_000 });
    const items: StreamItem[] = [];
    const first = collect(stream, (got) => got.length === 1, items);
    await new Promise((r) => setTimeout(r, 20));
    s.move("creating");
    await first;
    expect(s.statusReads()).toBe(1);
    s.move("ready", { named: false });
    await collect(stream, (got) => got.at(-1)?.kind === "end", items);
    expect(messages(items)).toEqual(["→ creating", "→ ready"]);
    expect(items.at(-1)).toMatchObject({ kind: "end", sandbox: { status: "ready" } });
    expect(s.statusReads()).toBe(2);
    ac.abort();
  });

  it("a resume after the final state ends at once, with nothing repeated", async () => {
    const s = fakeSandbox();
    s.log("Syncing…");
    s.move("failed");
    const items = await collect(
      sandboxEventStream(s.manager, "s1", { after: 2, signal: new AbortController().signal, pollMs: 60_000 }),
      () => false,
    );
    expect(items).toEqual([{ kind: "end", sandbox: expect.objectContaining({ status: "failed" }) }]);
  });

  it("holds back what lies above the visible horizon (an earlier event still being committed elsewhere), the end too", async () => {
    const s = fakeSandbox();
    const ac = new AbortController();
    const stream = sandboxEventStream(s.manager, "s1", { after: 0, signal: ac.signal, pollMs: 60_000 });
    const items: StreamItem[] = [];
    const first = collect(stream, (got) => got.length === 1, items);
    s.log("line 1");
    await first;
    // Ids 2 and 3 exist, but the horizon says an id at or below 2 may not be visible yet.
    s.setHorizon(1);
    s.log("line 2");
    s.move("ready");
    const rest = collect(stream, (got) => got.at(-1)?.kind === "end", items);
    await new Promise((r) => setTimeout(r, 300)); // several looks meanwhile (25 ms, doubling)
    expect(messages(items)).toEqual(["line 1"]);
    s.setHorizon(Number.POSITIVE_INFINITY);
    await rest;
    expect(messages(items)).toEqual(["line 1", "line 2", "→ ready"]);
    expect(items.at(-1)).toMatchObject({ kind: "end", sandbox: { status: "ready" } });
    ac.abort();
  });

  it("a state event from another process (no notification) is found by the slow poll", async () => {
    const s = fakeSandbox("queued");
    const ac = new AbortController();
    const stream = sandboxEventStream(s.manager, "s1", { after: 0, signal: ac.signal, pollMs: 20 });
    const done = collect(stream, (got) => got.at(-1)?.kind === "end");
    await new Promise((r) => setTimeout(r, 50));
    // Written without waking the stream, as another instance's worker would.
    const quiet = s.manager.notifier.sandboxChanged;
    s.manager.notifier.sandboxChanged = () => {};
    s.move("creating");
    s.move("ready");
    s.manager.notifier.sandboxChanged = quiet;
    const items = await done;
    expect(messages(items)).toEqual(["→ creating", "→ ready"]);
    expect(items.at(-1)).toMatchObject({ kind: "end" });
    ac.abort();
  });

  it("polls slowly while wake-ups bring other processes' changes, and still sends a notified event at once", async () => {
    const quietPass = async (wake: boolean) => {
      const s = fakeSandbox("creating");
      s.manager.notifier.setCrossProcessWake(wake);
      const ac = new AbortController();
      const stream = sandboxEventStream(s.manager, "s1", { after: 0, signal: ac.signal, pollMs: 20, pollWithWakeMs: 60_000 });
      const first = collect(stream, (got) => got.length === 1);
      await new Promise((r) => setTimeout(r, 300));
      const idleReads = s.eventReads();
      s.log("notified");
      const items = await first;
      ac.abort();
      return { idleReads, items };
    };
    const withWake = await quietPass(true);
    const without = await quietPass(false);
    // 300 ms of a 20-ms poll: about fifteen reads without wake-ups; with them, the first read only.
    expect(without.idleReads).toBeGreaterThanOrEqual(5);
    expect(withWake.idleReads).toBe(1);
    expect(messages(withWake.items)).toEqual(["notified"]);
  });

  it("streams following one sandbox from the same point share one read per new line", async () => {
    const s = fakeSandbox("creating");
    const ac = new AbortController();
    const opts = { after: 0, signal: ac.signal, pollMs: 60_000 };
    const a = sandboxEventStream(s.manager, "s1", opts);
    const b = sandboxEventStream(s.manager, "s1", opts);
    const gotA: StreamItem[] = [];
    const gotB: StreamItem[] = [];
    // Each reads for itself at its start (B's began after A's read had: that read may lack what came
    // just before B subscribed); after that they wake together.
    const firstA = collect(a, (got) => got.length === 1, gotA);
    const firstB = collect(b, (got) => got.length === 1, gotB);
    await new Promise((r) => setTimeout(r, 20));
    expect(s.eventReads()).toBe(2);
    for (const line of ["one", "two", "three"]) {
      const before = s.eventReads();
      const nextA = line === "one" ? firstA : collect(a, (got) => messages(got).includes(line), gotA);
      const nextB = line === "one" ? firstB : collect(b, (got) => messages(got).includes(line), gotB);
      s.log(line);
      await Promise.all([nextA, nextB]);
      expect(s.eventReads() - before).toBe(1);
    }
    expect(messages(gotA)).toEqual(["one", "two", "three"]);
    expect(messages(gotB)).toEqual(["one", "two", "three"]);
    // Both end on the same state change: one view of the sandbox for both `end`s.
    const endA = collect(a, (got) => got.at(-1)?.kind === "end", gotA);
    const endB = collect(b, (got) => got.at(-1)?.kind === "end", gotB);
    s.move("ready");
    await Promise.all([endA, endB]);
    expect(gotA.at(-1)).toMatchObject({ kind: "end", sandbox: { status: "ready" } });
    expect(gotB.at(-1)).toMatchObject({ kind: "end", sandbox: { status: "ready" } });
    expect(s.viewReads()).toBe(1);
    ac.abort();
  });

  it("a stream woken by a line does not share a read that started before it (that read may lack the line)", async () => {
    const s = fakeSandbox("creating");
    const events = s.manager.sandboxEvents.bind(s.manager);
    let gateNext: Promise<void> | null = null; // holds the next read only, after it looked at the events
    (s.manager as { sandboxEvents: Manager["sandboxEvents"] }).sandboxEvents = async (...args) => {
      const result = await events(...args);
      const gate = gateNext;
      gateNext = null;
      if (gate) await gate;
      return result;
    };
    const ac = new AbortController();
    // B follows first, reads (nothing yet) and waits for a wake-up.
    const b = sandboxEventStream(s.manager, "s1", { after: 0, signal: ac.signal, pollMs: 60_000 });
    const gotB = collect(b, (got) => messages(got).includes("late"));
    await new Promise((r) => setTimeout(r, 20));
    // A starts: its first read (same sandbox, same point) looks at the events, then is held.
    let open!: () => void;
    gateNext = new Promise<void>((r) => (open = r));
    const a = sandboxEventStream(s.manager, "s1", { after: 0, signal: ac.signal, pollMs: 60_000 });
    const gotA = collect(a, (got) => messages(got).includes("late"));
    await new Promise((r) => setTimeout(r, 20));
    // The line: B wakes and must read for itself — A's read began before the line and lacks it, and
    // B's 60-s poll would be its only other chance.
    s.log("late");
    await new Promise((r) => setTimeout(r, 20));
    open();
    const [itemsA, itemsB] = await Promise.race([
      Promise.all([gotA, gotB]),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("a stream missed the line")), 2_000)),
    ]);
    expect(messages(itemsA)).toEqual(["late"]);
    expect(messages(itemsB)).toEqual(["late"]);
    ac.abort();
  });

  it("takes the status the caller read just before instead of reading it again; a later state event in the read wins", async () => {
    const s = fakeSandbox("creating");
    s.log("copying");
    const ac = new AbortController();
    const stream = sandboxEventStream(s.manager, "s1", { after: 0, signal: ac.signal, pollMs: 60_000, knownStatus: "creating" });
    const first = await collect(stream, (got) => got.length === 1);
    await new Promise((r) => setTimeout(r, 20));
    expect(messages(first)).toEqual(["copying"]);
    s.move("ready");
    const rest = await collect(stream, (got) => got.at(-1)?.kind === "end");
    expect(messages(rest)).toEqual(["→ ready"]);
    expect(s.statusReads()).toBe(0);

    // Read as "creating", but it went on to "ready" before the events were read: the state event says so.
    const later = fakeSandbox("creating");
    later.move("ready");
    const items = await collect(
      sandboxEventStream(later.manager, "s1", { after: 0, signal: new AbortController().signal, pollMs: 60_000, knownStatus: "creating" }),
      (got) => got.at(-1)?.kind === "end",
    );
    expect(messages(items)).toEqual(["→ ready"]);
    expect(later.statusReads()).toBe(0);
    ac.abort();
  });
});
