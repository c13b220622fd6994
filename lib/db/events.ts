// Events: sandbox log lines, state changes and audit entries (one table, `type` tells them apart).
// Ids increase monotonically, so readers page and resume by id (SSE Last-Event-ID).
import "server-only";

import { join, sqltag as sql } from "@prisma/client/runtime/client";

import { providerOf, type Db, type Prisma } from "./client";
import { storableJson, storableText } from "./storable";

/** `team`: a notice published on the team event stream (lib/manager/team-events.ts); `action` holds its topic. */
export type EventType = "log" | "state" | "audit" | "team";
export type EventLevel = "info" | "warn" | "error";

export interface EventInput {
  sandboxId?: string | null;
  type: EventType;
  level?: EventLevel;
  message: string;
  actorId?: string | null;
  actorLabel?: string | null;
  action?: string | null;
  target?: string | null;
  result?: "ok" | "denied" | "failed" | null;
  sourceIp?: string | null;
  data?: Prisma.InputJsonValue;
  createdAt?: Date;
}

export interface EventRow {
  id: number;
  sandboxId: string | null;
  type: string;
  level: string;
  message: string;
  actorId: string | null;
  actorLabel: string | null;
  action: string | null;
  target: string | null;
  result: string | null;
  sourceIp: string | null;
  data: unknown;
  createdAt: Date;
}

const MAX_MESSAGE = 8_000;

function toRow(e: EventInput): Prisma.EventUncheckedCreateInput {
  const message = storableText(e.message);
  return {
    sandboxId: e.sandboxId ?? null,
    type: e.type,
    level: e.level ?? "info",
    message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message,
    actorId: e.actorId ?? null,
    actorLabel: e.actorLabel ?? null,
    action: e.action ?? null,
    target: e.target ?? null,
    result: e.result ?? null,
    sourceIp: e.sourceIp ?? null,
    data: e.data === undefined ? undefined : storableJson(e.data),
    createdAt: e.createdAt,
  };
}

export function eventCreate(e: EventInput) {
  return { data: toRow(e) } satisfies Prisma.EventCreateArgs;
}

/** Rows per multi-row INSERT: 12 parameters each, far below SQLite's 32,766 and PostgreSQL's 65,535. */
const ROWS_PER_INSERT = 500;

/**
 * Appends events. A single one (the most frequent write: one state event, one log line) goes as a
 * `create`, whose query plan Prisma compiles once per shape and caches. Several (a batch of log lines)
 * go as one multi-row INSERT written here: Prisma never caches a `createMany` plan, and compiling it
 * again for every batch was most of the query compiler's time in a create (~2.5 ms of the main thread
 * per create in the bench's profile, 2026-12-03), growing with the rows. The statement writes what
 * `createMany` wrote — every column given, the timestamp and JSON passed as typed parameters, so the
 * adapters store them as for any Prisma write (tests/integration/db-access.test.ts compares the rows
 * with `createMany`'s on both databases). A transaction client, whose database is not known here,
 * keeps `createMany`.
 */
export async function appendEvents(db: Db | Prisma.TransactionClient, events: EventInput[]): Promise<void> {
  if (events.length === 0) return;
  if (events.length === 1) {
    await db.event.create({ data: toRow(events[0]!), select: { id: true } });
    return;
  }
  const provider = providerOf(db);
  if (!provider) {
    await db.event.createMany({ data: events.map(toRow) });
    return;
  }
  const now = new Date();
  for (let i = 0; i < events.length; i += ROWS_PER_INSERT) {
    const values = events.slice(i, i + ROWS_PER_INSERT).map((e) => {
      const r = toRow(e);
      const data = r.data === undefined ? null : JSON.stringify(r.data);
      return sql`(${r.sandboxId}, ${r.type}, ${r.level}, ${r.message}, ${r.actorId}, ${r.actorLabel}, ${r.action}, ${r.target}, ${r.result}, ${r.sourceIp}, ${provider === "postgresql" ? sql`CAST(${data} AS jsonb)` : data}, ${r.createdAt ?? now})`;
    });
    await (db as Db)
      .$executeRaw`INSERT INTO "Event" ("sandboxId", "type", "level", "message", "actorId", "actorLabel", "action", "target", "result", "sourceIp", "data", "createdAt") VALUES ${join(values)}`;
  }
}

/** Log and state events of one sandbox after `afterId`, oldest first. */
export async function listSandboxEvents(
  db: Db,
  sandboxId: string,
  opts: { afterId?: number; limit?: number; types?: EventType[] } = {},
): Promise<EventRow[]> {
  return db.event.findMany({
    where: {
      sandboxId,
      id: opts.afterId ? { gt: opts.afterId } : undefined,
      type: { in: opts.types ?? ["log", "state"] },
    },
    orderBy: { id: "asc" },
    take: opts.limit ?? 1000,
  });
}

export interface AuditFilter {
  action?: string;
  actorId?: string;
  result?: string;
  target?: string;
  beforeId?: number;
  limit?: number;
}

/** Audit entries, newest first, paged by id. */
export async function listAudit(db: Db, f: AuditFilter = {}): Promise<EventRow[]> {
  return db.event.findMany({
    where: {
      type: "audit",
      action: f.action ? { startsWith: f.action } : undefined,
      actorId: f.actorId,
      result: f.result,
      target: f.target ? { contains: f.target } : undefined,
      id: f.beforeId ? { lt: f.beforeId } : undefined,
    },
    orderBy: { id: "desc" },
    take: Math.min(f.limit ?? 50, 500),
  });
}

/** The state events of one sandbox, oldest first (its timeline). */
export async function listStateEvents(db: Db, sandboxId: string, limit: number): Promise<EventRow[]> {
  return db.event.findMany({ where: { sandboxId, type: "state" }, orderBy: { id: "asc" }, take: limit });
}

/** The types the team event stream carries (audit entries never leave the audit page). */
export const STREAM_EVENT_TYPES: EventType[] = ["log", "state", "team"];

/**
 * How long a missing event id may still appear. Ids are taken from a sequence at insert and become
 * visible at commit, so on PostgreSQL a later id can be visible while an earlier one is still in an
 * open transaction (two instances, or the worker and a request, writing at once). A reader that moved
 * past the missing id would never see that event. Readers therefore stop before a missing id while the
 * event after it is younger than this; an older gap is one that will not fill (a rolled-back insert,
 * a deleted row). SQLite has one writer at a time and never shows such a gap.
 */
export const STREAM_GAP_GRACE_MS = 5_000;

/**
 * How long a reader waiting for a missing id pauses before its `round`-th look (0-based): `firstMs`,
 * doubling, never beyond `maxMs` (the reader's slow poll) — a gap that lasts is a rolled-back insert.
 */
export function gapRecheckDelay(firstMs: number, round: number, maxMs: number): number {
  return Math.min(maxMs, firstMs * 2 ** Math.min(round, 16));
}

/** Whether the ids between `previousId` and `row` (a gap) may still appear: the row after it is young. */
function gapMayFill(previousId: number, row: { id: number; createdAt: Date }, now: number, grace: number): boolean {
  return row.id !== previousId + 1 && now - row.createdAt.getTime() < grace;
}

export interface StreamRead {
  /** The events the team stream carries, oldest first. */
  rows: EventRow[];
  /** Where the next read continues (the last id handed out or passed; `afterId` when none). */
  lastId: number;
  /** Stopped before a missing id that may still appear: read again soon. */
  waiting: boolean;
  /** The read hit its limit: more may follow at once. */
  full: boolean;
}

/**
 * What the team event stream carries after `afterId`, oldest first, up to the first id that may still
 * appear (STREAM_GAP_GRACE_MS): one indexed range read. Every type is read (audit entries are skipped
 * here, not in SQL), so a row the stream does not carry is not mistaken for a missing one.
 */
export async function readStreamEvents(
  db: Db,
  afterId: number,
  limit: number,
  opts: { now?: Date; graceMs?: number } = {},
): Promise<StreamRead> {
  const now = (opts.now ?? new Date()).getTime();
  const grace = opts.graceMs ?? STREAM_GAP_GRACE_MS;
  const all = await db.event.findMany({ where: { id: { gt: afterId } }, orderBy: { id: "asc" }, take: limit });
  const rows: EventRow[] = [];
  let lastId = afterId;
  for (const r of all) {
    if (gapMayFill(lastId, r, now, grace)) return { rows, lastId, waiting: true, full: false };
    lastId = r.id;
    if ((STREAM_EVENT_TYPES as string[]).includes(r.type)) rows.push(r);
  }
  return { rows, lastId, waiting: false, full: all.length === limit };
}

/** How many of the newest ids latestEventId looks at first, and at most (see there). */
const HORIZON_FIRST_PAGE = 50;
const HORIZON_MAX_ROWS = 10_000;

/**
 * Where a fresh team stream starts: the newest event id, or the id before the newest missing one that
 * may still appear (see STREAM_GAP_GRACE_MS); 0 when there are none.
 *
 * A missing id may still appear only while the event after it is younger than the grace, so the
 * newest ids are read back (50, then 200, 800… more) until the oldest of them is older than the grace:
 * then every gap below it is one that will not fill. A fixed window would pass over an insert still
 * in flight once more events than the window holds were committed after it — 50 creates logging at
 * once do that. Bounded at HORIZON_MAX_ROWS (2,000 events a second for the whole grace).
 */
export async function latestEventId(db: Db, opts: { now?: Date; graceMs?: number } = {}): Promise<number> {
  const now = (opts.now ?? new Date()).getTime();
  const grace = opts.graceMs ?? STREAM_GAP_GRACE_MS;
  const recent: { id: number; createdAt: Date }[] = []; // newest first
  let reachedFirst = false;
  for (let take = HORIZON_FIRST_PAGE; ; take = Math.min(take * 4, HORIZON_MAX_ROWS - recent.length)) {
    const before = recent.at(-1)?.id;
    const page = await db.event.findMany({
      where: before === undefined ? undefined : { id: { lt: before } },
      orderBy: { id: "desc" },
      select: { id: true, createdAt: true },
      take,
    });
    recent.push(...page);
    if (page.length < take) {
      reachedFirst = true;
      break;
    }
    if (now - recent.at(-1)!.createdAt.getTime() >= grace || recent.length >= HORIZON_MAX_ROWS) break;
  }
  if (recent.length === 0) return 0;
  recent.reverse();
  // When these are all the events there are, ids started at 1 (the first may still be in flight);
  // otherwise the oldest read is older than the grace, and no gap below it will fill.
  let previous = reachedFirst ? 0 : recent[0]!.id - 1;
  for (const r of recent) {
    if (gapMayFill(previous, r, now, grace)) return previous;
    previous = r.id;
  }
  return previous;
}

/**
 * The id up to which every event is visible, for a reader of one sandbox's events (whose ids are not
 * contiguous, so it cannot see a gap itself): read it BEFORE the events and hand out only those at or
 * below it. SQLite has one writer at a time and never shows a gap: no query there.
 */
export async function visibleEventHorizon(db: Db): Promise<number> {
  if (providerOf(db) === "sqlite") return Number.POSITIVE_INFINITY;
  return latestEventId(db);
}

/** Removes team notices older than `before` (they matter only to streams that were briefly away). */
export async function pruneTeamEvents(db: Db, before: Date): Promise<number> {
  return (await db.event.deleteMany({ where: { type: "team", createdAt: { lt: before } } })).count;
}
