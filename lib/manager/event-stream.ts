// A sandbox's events as a live stream, for the API's Server-Sent Events: everything after a given
// event id (so a client resumes with Last-Event-ID without gaps or repeats), then — once the sandbox
// is in a final state — one `end` with the sandbox. New events wake the stream through the notifier;
// a slow poll covers changes made by other processes — every `pollMs` (1 s), or every
// `pollWithWakeMs` (15 s) while wake-ups bring theirs too (Notifier.crossProcessWake: PostgreSQL's
// notifications, or the embedded database's watch of its commits).
//
// Every status change is written with the state event that explains it, in one transaction
// (transitions.ts), so once the stream sees a final status, the events after its last read
// include the line that says why ("→ failed: …"); it sends those, then `end`. For the same reason the
// status can only have changed when a state event arrived, and that event names the status it wrote:
// the stream reads the status once, at the start, and after that takes it from the state events (a
// create's follower wakes a dozen times for log lines and three times for states: no read for any).
//
// No event is passed over. On PostgreSQL an event another process is still committing has an id below
// ones already visible; each pass first reads the horizon up to which every id is visible
// (Manager.eventHorizon) and sends only events at or below it; what lies above waits for the next
// pass, soon (HELD_RECHECK_MS). SQLite never shows such a gap and its horizon costs nothing.
import "server-only";

import { gapRecheckDelay } from "../db/events";
import type { Manager } from "./manager";
import { isSandboxStatus, isTransient, type SandboxStatus } from "./states";
import type { SandboxEventView, SandboxView } from "./views";

export type StreamItem = { kind: "event"; event: SandboxEventView } | { kind: "keepalive" } | { kind: "end"; sandbox: SandboxView };

const BATCH = 500;
/** How soon a pass that held events back first looks again (another process is committing an earlier one). */
const HELD_RECHECK_MS = 25;
/** The slow poll while other processes' changes arrive as wake-ups (it only covers a lost one). */
const POLL_WITH_WAKE_MS = 15_000;

type Read = { horizon: number; all: SandboxEventView[] };
/**
 * Reads in flight, per manager, by what they read. Streams following one sandbox from the same point
 * (a team watching one build) wake together on each new line; the first to read starts the read and
 * the others share it — one read per line instead of one per follower, and one view of the sandbox for
 * all the `end`s. A stream shares only a read that started after it had reason to read (`since`: its
 * wake-up, its poll's end, seeing the final status); one started before may lack what it looks for.
 */
const readsInFlight = new WeakMap<Manager, Map<string, { startedAt: number; read: Promise<unknown> }>>();

function shared<T>(m: Manager, key: string, since: number, read: () => Promise<T>): Promise<T> {
  let byKey = readsInFlight.get(m);
  if (!byKey) readsInFlight.set(m, (byKey = new Map()));
  const running = byKey.get(key);
  if (running && running.startedAt >= since) return running.read as Promise<T>;
  const entry = { startedAt: performance.now(), read: read() };
  byKey.set(key, entry);
  const forget = () => {
    if (byKey.get(key) === entry) byKey.delete(key);
  };
  entry.read.then(forget, forget);
  return entry.read;
}

const sharedRead = (m: Manager, id: string, after: number, since: number): Promise<Read> =>
  shared(m, `events ${id} ${after}`, since, async () => {
    const horizon = await m.eventHorizon(); // before the events: every id up to it is in that read
    return { horizon, all: await m.sandboxEvents(id, after, BATCH) };
  });

export async function* sandboxEventStream(
  m: Manager,
  id: string,
  opts: {
    after: number;
    signal: AbortSignal;
    pollMs?: number;
    pollWithWakeMs?: number;
    keepaliveMs?: number;
    /**
     * The sandbox's status as the caller read it just before (the route's 404 check): the first pass
     * takes it instead of reading it again. Read before the events, it is as good as one read after
     * them: a change in between comes with its state event, which names the new status.
     */
    knownStatus?: SandboxStatus;
  },
): AsyncGenerator<StreamItem> {
  const pollMs = opts.pollMs ?? 1_000;
  const pollWithWakeMs = opts.pollWithWakeMs ?? POLL_WITH_WAKE_MS;
  const keepaliveMs = opts.keepaliveMs ?? 15_000;
  let last = opts.after;
  let wake: (() => void) | null = null;
  // A change that arrives while the loop is reading (not pausing) must not be lost: remember it, and
  // the next pause returns at once.
  let changed = false;
  // When this stream last had a reason to read (a wake-up, or a poll's pause ending): it may share a
  // read that started since, not before.
  let since = performance.now();
  const unsubscribe = m.notifier.onSandboxChanged(id, () => {
    changed = true;
    since = performance.now();
    wake?.();
  });
  const onAbort = () => wake?.();
  opts.signal.addEventListener("abort", onAbort);
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      if (changed || opts.signal.aborted) return resolve();
      const t = setTimeout(() => {
        since = performance.now();
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    }).finally(() => {
      wake = null;
      changed = false;
    });

  /** The events after `last` that may go out now, and whether later ones were held back. */
  const read = async () => {
    const { horizon, all } = await sharedRead(m, id, last, since);
    const events = all.filter((e) => e.id <= horizon);
    return { events, held: events.length < all.length, full: all.length === BATCH };
  };

  // Held back again and again means a gap that will not fill (a rolled-back insert, passed after
  // STREAM_GAP_GRACE_MS): look less often the longer it lasts, up to the slow poll.
  let heldRounds = 0;
  const pauseHeld = () => pause(gapRecheckDelay(HELD_RECHECK_MS, heldRounds++, pollMs));

  try {
    let lastSent = Date.now();
    // Read from the database at the start (the events may begin after the last state event) and after
    // a state event that does not name a status; otherwise the latest state event's status is the row's.
    let statusMayHaveChanged = opts.knownStatus === undefined;
    let statusFromEvent: SandboxStatus | null = opts.knownStatus ?? null;
    while (!opts.signal.aborted) {
      const { events, held, full } = await read();
      for (const event of events) {
        last = event.id;
        if (event.type === "state") {
          if (event.status && isSandboxStatus(event.status)) statusFromEvent = event.status;
          else statusMayHaveChanged = true;
        }
        yield { kind: "event", event };
      }
      if (events.length > 0) lastSent = Date.now();
      if (held) {
        // The status is not looked at meanwhile: its state event may be among those held back.
        await pauseHeld();
        continue;
      }
      heldRounds = 0;
      if (full) continue; // more waiting: no pause
      const status = statusMayHaveChanged ? await m.sandboxStatus(id) : statusFromEvent;
      statusMayHaveChanged = false;
      statusFromEvent = null;
      if (status !== null && !isTransient(status)) {
        // Anything written between the reads above and now (the final state event among it) goes out before the end.
        for (;;) {
          since = performance.now(); // a read from before the status was seen may lack its last lines
          const tail = await read();
          for (const event of tail.events) {
            last = event.id;
            yield { kind: "event", event };
          }
          if (opts.signal.aborted) return;
          if (tail.held) await pauseHeld();
          else if (tail.events.length === 0) break;
        }
        yield { kind: "end", sandbox: await shared(m, `view ${id}`, since, () => m.getSandbox(id)) };
        return;
      }
      if (Date.now() - lastSent > keepaliveMs) {
        yield { kind: "keepalive" };
        lastSent = Date.now();
      }
      // No longer than the keepalive: it is looked at after each pause.
      await pause(Math.min(m.notifier.fallbackPollMs(pollMs, pollWithWakeMs), keepaliveMs));
    }
  } finally {
    unsubscribe();
    opts.signal.removeEventListener("abort", onAbort);
  }
}
