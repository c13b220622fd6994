// The team event stream's hub: ONE reader of the event table per process, fanned out to every open
// stream (GET /api/v1/events). However many dashboards are open, the database sees one indexed range
// read per poll (every 2 s while at least one stream is open, none otherwise); changes made in this
// process wake the reader at once through the notifier, so a destroy is on every screen in
// milliseconds; changes made by other processes wake it too on PostgreSQL (lib/db/wake.ts), and arrive
// with the next poll otherwise.
//
// What a stream carries (docs/live-updates.md):
//   `log` / `state`  a sandbox's log line or status change (id: the event id; data: sandboxId + the event)
//   `sandbox`        after state changes: the sandbox as it is now (a SandboxView), for lists and pages
//   `team`           a notice on a topic (lib/manager/team-events.ts): { topic, data }
//   `pool`           after state changes, when warm-pool counts differ from the last sent (a PoolCountsView)
//   `ready`          once, when the stream is live: { lastEventId }
//   `reset`          the client fell too far behind to replay: refetch everything, then follow on
// Ids are event-table ids, so a client that reconnects with Last-Event-ID gets exactly what it missed
// (up to REPLAY_MAX events; beyond that a `reset`). They are handed out in order and never past an id
// that may still appear (another writer's open transaction on PostgreSQL; STREAM_GAP_GRACE_MS in
// lib/db/events.ts): the reader waits for it, looking again soon, so no event is skipped. Heartbeat
// comments keep proxies from closing idle streams. A stream whose client does not read (its queue
// passes a bound) is closed: the browser reconnects and resumes from its last id, so a slow tab never
// grows the server's memory.
import "server-only";

import { STREAM_GAP_GRACE_MS, gapRecheckDelay, latestEventId, readStreamEvents, type EventRow } from "../db/events";
import type { Manager } from "./manager";
import type { PoolCountsView, SandboxView } from "./views";

export interface TeamStreamOptions {
  /** How often the reader looks for changes made by other processes (ms). */
  pollMs: number;
  /** The same while wake-ups bring other processes' changes (Notifier.crossProcessWake; ms). */
  pollWithWakeMs: number;
  /** How often an idle stream gets a comment line (ms). */
  heartbeatMs: number;
  /** The most events a resuming stream is sent; further behind, it gets `reset`. */
  replayMax: number;
  /** How long a missing event id may still appear before the stream passes it (lib/db/events.ts). */
  gapGraceMs: number;
  /** How soon the reader first looks again while it waits for a missing id (ms; doubling up to pollMs). */
  gapRecheckMs: number;
}

export const DEFAULT_TEAM_STREAM_OPTIONS: TeamStreamOptions = {
  pollMs: 2_000,
  pollWithWakeMs: 15_000,
  heartbeatMs: 15_000,
  replayMax: 2_000,
  gapGraceMs: STREAM_GAP_GRACE_MS,
  gapRecheckMs: 100,
};

const BATCH = 500;

/** Where a stream's bytes go; `write` returns false when the client is not keeping up. */
export interface StreamSink {
  write(text: string): boolean;
  /** Ends the response (the hub has already dropped the stream). */
  close(): void;
}

interface Subscriber {
  person: string;
  sink: StreamSink;
  /** The last event id this stream was sent (frames at or below it are skipped). */
  lastId: number;
  /** While replaying, live frames wait here. */
  pending: Frame[] | null;
}

interface Frame {
  id?: number;
  text: string;
}

type HubManager = Pick<Manager, "db" | "notifier" | "streamSnapshot" | "logger"> & Partial<Pick<Manager, "poolCountsView">>;

export function frameText(event: string, data: unknown, id?: number): string {
  return `${id !== undefined ? `id: ${id}\n` : ""}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export class TeamStreamHub {
  private readonly subs = new Set<Subscriber>();
  private readonly opts: TeamStreamOptions;
  private cursor: number | null = null;
  private running = false;
  private changed = false;
  private wake: (() => void) | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void)[] = [];
  /** Database reads made for all streams together (the metric sandboxer_event_stream_reads_total). */
  reads = 0;
  /** The last `pool` frame sent live (one is sent only when the counts changed). */
  private lastPool: string | null = null;

  constructor(
    private readonly m: HubManager,
    opts: Partial<TeamStreamOptions> = {},
  ) {
    this.opts = { ...DEFAULT_TEAM_STREAM_OPTIONS, ...opts };
  }

  /** Open streams in this process. */
  get size(): number {
    return this.subs.size;
  }

  /**
   * Opens a stream for `person`. With `after` (Last-Event-ID), the events after it are replayed first.
   * Returns the close function. The per-person cap is the route's (lib/api/stream-limit.ts, shared by
   * every stream route), not the hub's.
   */
  async open(person: string, after: number | null, sink: StreamSink): Promise<() => void> {
    const sub: Subscriber = { person, sink, lastId: -1, pending: after !== null ? [] : null };
    this.subs.add(sub);
    this.start();
    const close = () => this.drop(sub, false);
    try {
      if (after !== null) await this.replay(sub, after);
      else {
        sub.lastId = this.cursor ?? (await this.latest());
        if (!this.write(sub, frameText("ready", { lastEventId: sub.lastId }, sub.lastId || undefined))) return close;
      }
    } catch (err) {
      this.drop(sub, true);
      throw err;
    }
    return close;
  }

  private async replay(sub: Subscriber, after: number): Promise<void> {
    let last = after;
    let sent = 0;
    for (;;) {
      // Up to the first id that may still appear: the live reader hands it (and what follows) over.
      const read = await readStreamEvents(this.m.db, last, BATCH, { graceMs: this.opts.gapGraceMs });
      sent += read.rows.length;
      if (sent > this.opts.replayMax) {
        last = await this.latest();
        if (!this.write(sub, frameText("reset", { lastEventId: last }, last))) return;
        break;
      }
      for (const f of await this.frames(read.rows, true)) if (!this.write(sub, f.text)) return;
      last = read.lastId;
      if (!read.full) break;
    }
    sub.lastId = last;
    const queued = sub.pending ?? [];
    sub.pending = null;
    if (!this.write(sub, frameText("ready", { lastEventId: last }, last || undefined))) return;
    for (const f of queued) if (!this.deliver(sub, f)) return;
  }

  /** Where a stream with nothing to resume starts (see latestEventId). */
  private latest(): Promise<number> {
    return latestEventId(this.m.db, { graceMs: this.opts.gapGraceMs });
  }

  private write(sub: Subscriber, text: string): boolean {
    if (!this.subs.has(sub)) return false;
    if (sub.sink.write(text)) return true;
    this.m.logger.info({ person: sub.person }, "event stream closed: the client is not reading (it will resume from its last id)");
    this.drop(sub, true);
    return false;
  }

  private deliver(sub: Subscriber, f: Frame): boolean {
    if (sub.pending) {
      sub.pending.push(f);
      return true;
    }
    if (f.id !== undefined) {
      if (f.id <= sub.lastId) return true;
      sub.lastId = f.id;
    }
    return this.write(sub, f.text);
  }

  private drop(sub: Subscriber, closeSink: boolean): void {
    if (!this.subs.delete(sub)) return;
    if (closeSink) sub.sink.close();
    if (this.subs.size === 0) this.stop();
  }

  private start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = [this.m.notifier.onSandboxChanged("*", () => this.poke()), this.m.notifier.onTeamEvent(() => this.poke())];
    this.heartbeat = setInterval(() => {
      for (const sub of [...this.subs]) if (!sub.pending) this.write(sub, ": ping\n\n");
    }, this.opts.heartbeatMs);
    this.heartbeat.unref();
    void this.loop();
  }

  /** Called when the last stream closed: the loop sees it and ends. */
  private stop(): void {
    this.poke();
  }

  private poke(): void {
    this.changed = true;
    this.wake?.();
  }

  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.changed) return resolve();
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    }).finally(() => {
      this.wake = null;
    });
  }

  private async loop(): Promise<void> {
    let waitingRounds = 0;
    try {
      while (this.subs.size > 0) {
        this.changed = false;
        try {
          if (this.cursor === null) {
            this.reads++;
            this.cursor = await this.latest();
          }
          this.reads++;
          const read = await readStreamEvents(this.m.db, this.cursor, BATCH, { graceMs: this.opts.gapGraceMs });
          this.cursor = read.lastId;
          if (read.rows.length > 0) {
            const frames = await this.frames(read.rows);
            for (const sub of [...this.subs]) for (const f of frames) if (!this.deliver(sub, f)) break;
          }
          if (read.full) continue;
          if (read.waiting) {
            // An earlier id is not visible yet (another writer's transaction is open): look again soon,
            // less often the longer it stays missing (a rolled-back insert stays so for the whole grace).
            await this.pause(gapRecheckDelay(this.opts.gapRecheckMs, waitingRounds++, this.opts.pollMs));
            continue;
          }
          waitingRounds = 0;
        } catch (err) {
          this.m.logger.warn({ err }, "team event stream: reading events failed; retrying");
        }
        await this.pause(this.m.notifier.fallbackPollMs(this.opts.pollMs, this.opts.pollWithWakeMs));
      }
    } finally {
      for (const u of this.unsubscribe) u();
      this.unsubscribe = [];
      if (this.heartbeat) clearInterval(this.heartbeat);
      this.heartbeat = null;
      this.running = false;
      // With no stream open nothing follows the table: the next one starts from the newest event.
      this.cursor = null;
      if (this.subs.size > 0) this.start();
    }
  }

  /**
   * Turns event rows into frames; after a sandbox's last state change in the batch, its current view;
   * after a batch with state changes, the warm-pool counts when they differ from the last sent (always,
   * in a replay: that stream may have missed the last live one).
   */
  private async frames(rows: EventRow[], replay = false): Promise<Frame[]> {
    const lastState = new Map<string, number>();
    rows.forEach((r, i) => {
      if (r.type === "state" && r.sandboxId) lastState.set(r.sandboxId, i);
    });
    const views = new Map<string, SandboxView | null>();
    await Promise.all(
      [...lastState.keys()].map(async (id) => {
        views.set(id, await this.m.streamSnapshot(id).catch(() => null));
      }),
    );
    const out: Frame[] = [];
    rows.forEach((r, i) => {
      const view = streamEventView(r);
      if (!view) return;
      out.push({ id: r.id, text: frameText(view.type, view, r.id) });
      const snapshot = r.sandboxId && lastState.get(r.sandboxId) === i ? views.get(r.sandboxId) : undefined;
      if (snapshot) out.push({ text: frameText("sandbox", snapshot) });
    });
    // Pool members are not the team's (no `sandbox` frame), but their counts are on two pages.
    const pool: PoolCountsView | null =
      lastState.size > 0 && this.m.poolCountsView ? await this.m.poolCountsView().catch(() => null) : null;
    if (pool) {
      const text = frameText("pool", pool);
      if (replay || text !== this.lastPool) out.push({ text });
      if (!replay) this.lastPool = text;
    }
    return out;
  }
}

export type TeamStreamEventView =
  | { sandboxId: string; id: number; type: "log" | "state"; level: string; message: string; at: string; status?: string }
  | { id: number; type: "team"; topic: string; data: unknown; at: string };

/** What the stream (and its JSON form) says about one event row; null for rows it does not carry. */
export function streamEventView(r: EventRow): TeamStreamEventView | null {
  const at = r.createdAt.toISOString();
  if (r.type === "team") return { id: r.id, type: "team", topic: r.action ?? "", data: r.data ?? null, at };
  if ((r.type !== "log" && r.type !== "state") || !r.sandboxId) return null;
  const type: "log" | "state" = r.type;
  const base = { sandboxId: r.sandboxId, id: r.id, type, level: r.level, message: r.message, at };
  return r.type === "state" ? { ...base, status: String((r.data as { status?: string } | null)?.status ?? "") } : base;
}

/** The events after `after` as JSON (the route's non-SSE form): at most 500, and where to continue. */
export async function teamEventsAfter(
  m: Pick<Manager, "db">,
  after: number,
): Promise<{ events: TeamStreamEventView[]; lastEventId: number }> {
  const read = await readStreamEvents(m.db, after, BATCH);
  const events = read.rows.map(streamEventView).filter((e): e is TeamStreamEventView => e !== null);
  // Nothing read and nowhere to resume from: where a fresh stream would start.
  return { events, lastEventId: read.lastId > 0 ? read.lastId : await latestEventId(m.db) };
}

/**
 * Where a page's stream must start so it misses nothing: read BEFORE the page reads its data, so every
 * change after that read is replayed to it (frames it already shows are applied idempotently).
 */
export function teamStreamCursor(m: Pick<Manager, "db">): Promise<number> {
  return latestEventId(m.db);
}

const globalForHub = globalThis as unknown as { __sandboxerTeamStream?: TeamStreamHub };

/** The process's hub. */
export function teamStreamHub(m: HubManager): TeamStreamHub {
  globalForHub.__sandboxerTeamStream ??= new TeamStreamHub(m);
  return globalForHub.__sandboxerTeamStream;
}

/** Reads the hub made for its streams in this process (for metrics and the idle-dashboard test). */
export function teamStreamReads(): number {
  return globalForHub.__sandboxerTeamStream?.reads ?? 0;
}

/** Open team streams in this process (for metrics; 0 before the first). */
export function openTeamStreams(): number {
  return globalForHub.__sandboxerTeamStream?.size ?? 0;
}
