// Sandbox rows: the overview's queries (bounded: one page, one count, one group-by) and the
// conditional writes the manager uses to move a sandbox between states without races.
import "server-only";

import { ACTIVE_STATUSES, isSandboxStatus, type SandboxStatus } from "../manager/states";
import type { DbNull, Db, Prisma } from "./client";
import { storableText } from "./storable";

/** A sandbox's owner and host as its views name them. */
export const sandboxOwnerSelect = { id: true, name: true, email: true } satisfies Prisma.UserSelect;
export const sandboxHostSelect = { id: true, title: true, address: true, port: true } satisfies Prisma.BuildHostSelect;

/** A sandbox's own columns as a list row has them (sandboxListSelect without its owner and host). */
export const sandboxColumnsSelect = {
  id: true,
  ownerId: true,
  profileId: true,
  extensionId: true,
  hostId: true,
  status: true,
  statusReason: true,
  handle: true,
  createdAt: true,
  updatedAt: true,
  readyAt: true,
  destroyedAt: true,
  expiresAt: true,
  maxExpiresAt: true,
  lockOperationId: true,
  lockExpiresAt: true,
  machineId: true,
} satisfies Prisma.SandboxSelect;

export type SandboxColumns = Prisma.SandboxGetPayload<{ select: typeof sandboxColumnsSelect }>;

/** A sandbox's owner as its views name them (for a view made from SandboxColumns). */
export async function findSandboxOwner(db: Db, id: string) {
  return db.user.findUnique({ where: { id }, select: sandboxOwnerSelect });
}

/** A sandbox's host as its views name it (for a view made from SandboxColumns). */
export async function findSandboxHost(db: Db, id: string) {
  return db.buildHost.findUnique({ where: { id }, select: sandboxHostSelect });
}

export const sandboxListSelect = {
  ...sandboxColumnsSelect,
  owner: { select: sandboxOwnerSelect },
  host: { select: sandboxHostSelect },
} satisfies Prisma.SandboxSelect;

export type SandboxListRow = Prisma.SandboxGetPayload<{ select: typeof sandboxListSelect }>;

export const sandboxDetailInclude = {
  owner: { select: sandboxOwnerSelect },
  host: { select: { ...sandboxHostSelect, user: true, hostKey: true, workspaceRoot: true } },
} satisfies Prisma.SandboxInclude;

export type SandboxDetailRow = Prisma.SandboxGetPayload<{ include: typeof sandboxDetailInclude }>;

export interface SandboxFilter {
  status?: SandboxStatus[];
  ownerId?: string;
  profileId?: string;
  hostId?: string;
  /** Free text matched against id and profile. */
  q?: string;
  /** With no status filter: also the sandboxes destroyed within RECENTLY_DESTROYED_MS (the dashboard's group). */
  recentlyDestroyed?: boolean;
}

/** The dashboard shows destroyed sandboxes this long (as their own group), so a person sees their destroy finish. */
export const RECENTLY_DESTROYED_MS = 10 * 60_000;

export function sandboxWhere(f: SandboxFilter, opts: { ignoreStatus?: boolean; now?: Date } = {}): Prisma.SandboxWhereInput {
  const and: Prisma.SandboxWhereInput[] = [];
  if (!opts.ignoreStatus) {
    if (f.status?.length) and.push({ status: { in: [...f.status] } });
    else if (f.recentlyDestroyed) {
      const cutoff = new Date((opts.now ?? new Date()).getTime() - RECENTLY_DESTROYED_MS);
      and.push({ OR: [{ status: { in: [...ACTIVE_STATUSES] } }, { status: "destroyed", destroyedAt: { gt: cutoff } }] });
    } else and.push({ status: { in: [...ACTIVE_STATUSES] } });
  }
  if (f.q) and.push({ OR: [{ id: { startsWith: f.q } }, { profileId: { contains: f.q } }] });
  // Warm-pool members are the system's, not the team's: hidden until a person claims one.
  return { ownerId: f.ownerId, profileId: f.profileId, hostId: f.hostId, poolKey: null, AND: and };
}

export interface SandboxPage {
  rows: SandboxListRow[];
  total: number;
  page: number;
  pageSize: number;
  /** Counts per status under the same owner/profile/host filters (ignoring the status filter). */
  counts: Partial<Record<SandboxStatus, number>>;
}

/** One page of the overview, newest first. Three queries whatever the table's size. */
export async function listSandboxPage(db: Db, f: SandboxFilter, page: number, pageSize: number): Promise<SandboxPage> {
  const where = sandboxWhere(f);
  const [rows, total, groups] = await Promise.all([
    db.sandbox.findMany({
      where,
      select: sandboxListSelect,
      orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      skip: (page - 1) * pageSize,
      take: pageSize,
    }),
    db.sandbox.count({ where }),
    db.sandbox.groupBy({ by: ["status"], where: sandboxWhere(f, { ignoreStatus: true }), _count: { _all: true } }),
  ]);
  const counts: Partial<Record<SandboxStatus, number>> = {};
  for (const g of groups) if (isSandboxStatus(g.status)) counts[g.status] = g._count._all;
  return { rows, total, page, pageSize, counts };
}

export async function findSandbox(db: Db, id: string): Promise<SandboxDetailRow | null> {
  return db.sandbox.findUnique({ where: { id }, include: sandboxDetailInclude });
}

/** The sandbox row without joins (the worker's read before it acts). */
export async function findSandboxRow(db: Db, id: string) {
  return db.sandbox.findUnique({ where: { id } });
}
export type SandboxRow = NonNullable<Awaited<ReturnType<typeof findSandboxRow>>>;

/** Just the status column (the event stream asks this on every pass). */
export async function sandboxStatusOf(db: Db, id: string): Promise<string | null> {
  return (await db.sandbox.findUnique({ where: { id }, select: { status: true } }))?.status ?? null;
}

export async function sandboxExists(db: Db, id: string): Promise<boolean> {
  return (await db.sandbox.findUnique({ where: { id }, select: { id: true } })) !== null;
}

// ─── Status writes (only lib/manager/transitions.ts calls these; see lib/db/status-guard.ts) ────

/** The columns written together with a status. */
export type StatusColumns = Pick<
  Prisma.SandboxUncheckedUpdateManyInput,
  // A warm-pool claim also hands the member to its new owner (lib/manager/pools.ts), with new params when it is moved to another ref.
  "statusReason" | "readyAt" | "destroyedAt" | "ownerId" | "input" | "params" | "expiresAt" | "maxExpiresAt" | "poolKey"
>;

/** The status columns with their reason storable (it often quotes what a host printed). */
function storableSet(set: StatusColumns | undefined): StatusColumns | undefined {
  return typeof set?.statusReason === "string" ? { ...set, statusReason: storableText(set.statusReason) } : set;
}

/**
 * Moves a sandbox from one of `from` to `to` if (and only if) it is still in one of `from` — and, when
 * `lockOperationId` is given, still locked by that operation. Returns whether the move happened.
 */
export async function moveSandboxRow(
  tx: Prisma.TransactionClient,
  m: { id: string; from: readonly SandboxStatus[]; to: SandboxStatus; set?: StatusColumns; lockOperationId?: string },
): Promise<boolean> {
  const r = await tx.sandbox.updateMany({
    where: { id: m.id, status: { in: [...m.from] }, lockOperationId: m.lockOperationId },
    data: { ...storableSet(m.set), status: m.to },
  });
  return r.count === 1;
}

/** moveSandboxRow that also returns the moved row's columns (null when it did not move): still one statement, UPDATE … RETURNING. */
export async function moveSandboxRowReturning(
  tx: Prisma.TransactionClient,
  m: { id: string; from: readonly SandboxStatus[]; to: SandboxStatus; set?: StatusColumns; lockOperationId?: string },
): Promise<SandboxColumns | null> {
  const [row] = await tx.sandbox.updateManyAndReturn({
    where: { id: m.id, status: { in: [...m.from] }, lockOperationId: m.lockOperationId },
    data: { ...storableSet(m.set), status: m.to },
    select: sandboxColumnsSelect,
  });
  return row ?? null;
}

export type NewSandboxRow = Omit<Prisma.SandboxUncheckedCreateInput, "status">;

/** Inserts the row and returns its columns as written (the INSERT returns them: no read after). */
export async function insertSandboxRow(tx: Prisma.TransactionClient, row: NewSandboxRow, status: SandboxStatus): Promise<SandboxColumns> {
  return tx.sandbox.create({ data: { ...row, status }, select: sandboxColumnsSelect });
}

/** Bulk insert for fixtures (the scale test's 10,000 rows); statuses are the caller's. */
export async function insertSandboxFixtures(db: Db, rows: Prisma.SandboxCreateManyInput[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 1000) await db.sandbox.createMany({ data: rows.slice(i, i + 1000) });
}

// ─── Other writes ────────────────────────────────────────────────────────────────────────────────

export async function deleteSandboxRow(db: Db, id: string): Promise<void> {
  await db.sandbox.delete({ where: { id } });
}

export async function setExpiry(db: Db, id: string, expiresAt: Date): Promise<void> {
  await db.sandbox.update({ where: { id }, data: { expiresAt } });
}

/** Stores the destroy handle, while `operationId` holds the lock. False when it no longer does. */
export async function storeHandle(
  db: Db,
  id: string,
  operationId: string,
  handle: Prisma.InputJsonValue | typeof DbNull,
): Promise<boolean> {
  const r = await db.sandbox.updateMany({ where: { id, lockOperationId: operationId }, data: { handle } });
  return r.count === 1;
}

/** Why a queued sandbox is still waiting (only while it is queued). */
export async function setQueuedReason(db: Db, id: string, reason: string): Promise<void> {
  await db.sandbox.updateMany({ where: { id, status: "queued" }, data: { statusReason: storableText(reason) } });
}

/** Assigns (or with null, releases) the sandbox's host while `operationId` holds the lock. */
export async function assignHost(db: Db, id: string, operationId: string, hostId: string | null): Promise<boolean> {
  const r = await db.sandbox.updateMany({ where: { id, lockOperationId: operationId }, data: { hostId } });
  return r.count === 1;
}

// ─── Queries of the manager's commands and upkeep ───────────────────────────────────────────────

/** The owner's sandboxes in `statuses`, oldest first (the quota check). */
export async function ownerSandboxes(db: Db, ownerId: string, statuses: readonly SandboxStatus[]) {
  return db.sandbox.findMany({
    where: { ownerId, status: { in: [...statuses] } },
    select: { id: true, profileId: true, status: true },
    orderBy: { createdAt: "asc" },
  });
}

/** Sandboxes in `statuses` past their expiry, soonest first. */
export async function expiredSandboxes(db: Db, statuses: readonly SandboxStatus[], now: Date, limit: number) {
  return db.sandbox.findMany({
    where: { status: { in: [...statuses] }, expiresAt: { lt: now } },
    select: { id: true, expiresAt: true },
    orderBy: { expiresAt: "asc" },
    take: limit,
  });
}

/** Sandboxes in `statuses` unchanged since `cutoff` with no queued or running operation. */
export async function sandboxesWithoutOperation(db: Db, statuses: readonly SandboxStatus[], cutoff: Date, limit: number) {
  return db.sandbox.findMany({
    where: { status: { in: [...statuses] }, updatedAt: { lt: cutoff }, operations: { none: { state: { in: ["queued", "running"] } } } },
    select: { id: true, status: true },
    take: limit,
  });
}

/** Records that may account for workspaces on a host: on the host, in `statuses`, with their handles. */
export async function sandboxesOnHost(db: Db, hostId: string, statuses: readonly SandboxStatus[]) {
  return db.sandbox.findMany({
    where: { hostId, status: { in: [...statuses] } },
    select: { id: true, status: true, handle: true, extensionId: true, poolKey: true },
  });
}

/** Of `ids`, those with a record in `statuses` (on any host). */
export async function sandboxIdsIn(db: Db, ids: string[], statuses: readonly SandboxStatus[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.sandbox.findMany({ where: { id: { in: ids }, status: { in: [...statuses] } }, select: { id: true } });
  return new Set(rows.map((r) => r.id));
}

/** One record in `statuses` with this id, if any. */
export async function findAccountingRecord(db: Db, id: string, statuses: readonly SandboxStatus[]) {
  return db.sandbox.findFirst({ where: { id, status: { in: [...statuses] } }, select: { id: true, status: true } });
}

/** Sandboxes per status, under no filter (the metrics). */
export async function countSandboxesByStatus(db: Db): Promise<{ status: string; count: number }[]> {
  const groups = await db.sandbox.groupBy({ by: ["status"], _count: { _all: true } });
  return groups.map((g) => ({ status: g.status, count: g._count._all }));
}

/**
 * Binds a machine-local sandbox to `machineId` (first create attempt). True when it is bound to that
 * machine afterwards; false when another machine holds it (its worker must leave it).
 */
export async function bindSandboxMachine(db: Db, id: string, machineId: string): Promise<boolean> {
  await db.sandbox.updateMany({ where: { id, machineId: null }, data: { machineId } });
  const row = await db.sandbox.findUnique({ where: { id }, select: { machineId: true } });
  return row?.machineId === machineId;
}
