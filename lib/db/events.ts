// Events: sandbox log lines, state changes and audit entries (one table, `type` tells them apart).
// Ids increase monotonically, so readers page and resume by id (SSE Last-Event-ID).
import "server-only";

import type { Db, Prisma } from "./client";

export type EventType = "log" | "state" | "audit";
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

function toRow(e: EventInput): Prisma.EventCreateManyInput {
  return {
    sandboxId: e.sandboxId ?? null,
    type: e.type,
    level: e.level ?? "info",
    message: e.message.length > MAX_MESSAGE ? `${e.message.slice(0, MAX_MESSAGE)}…` : e.message,
    actorId: e.actorId ?? null,
    actorLabel: e.actorLabel ?? null,
    action: e.action ?? null,
    target: e.target ?? null,
    result: e.result ?? null,
    sourceIp: e.sourceIp ?? null,
    data: e.data,
    createdAt: e.createdAt,
  };
}

export function eventCreate(e: EventInput) {
  return { data: toRow(e) } satisfies Prisma.EventCreateArgs;
}

export async function appendEvents(db: Db | Prisma.TransactionClient, events: EventInput[]): Promise<void> {
  if (events.length === 0) return;
  await db.event.createMany({ data: events.map(toRow) });
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
