// Sandbox rows: the overview's queries (bounded: one page, one count, one group-by) and the
// conditional writes the manager uses to move a sandbox between states without races.
import "server-only";

import { ACTIVE_STATUSES, type SandboxStatus } from "../manager/states";
import type { Db, Prisma } from "./client";
import { eventCreate, type EventInput } from "./events";

export const sandboxListSelect = {
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
  owner: { select: { id: true, name: true, email: true } },
  host: { select: { id: true, title: true, address: true, port: true } },
} satisfies Prisma.SandboxSelect;

export type SandboxListRow = Prisma.SandboxGetPayload<{ select: typeof sandboxListSelect }>;

export const sandboxDetailInclude = {
  owner: { select: { id: true, name: true, email: true } },
  host: { select: { id: true, title: true, address: true, port: true, user: true, hostKey: true, workspaceRoot: true } },
} satisfies Prisma.SandboxInclude;

export type SandboxDetailRow = Prisma.SandboxGetPayload<{ include: typeof sandboxDetailInclude }>;

export interface SandboxFilter {
  status?: SandboxStatus[];
  ownerId?: string;
  profileId?: string;
  hostId?: string;
  /** Free text matched against id and profile. */
  q?: string;
}

/** Destroyed sandboxes stay in the default view this long, so a person sees their destroy finish. */
export const RECENTLY_DESTROYED_MS = 10 * 60_000;

export function sandboxWhere(f: SandboxFilter, opts: { ignoreStatus?: boolean; now?: Date } = {}): Prisma.SandboxWhereInput {
  const and: Prisma.SandboxWhereInput[] = [];
  if (!opts.ignoreStatus) {
    if (f.status?.length) and.push({ status: { in: [...f.status] } });
    else {
      const cutoff = new Date((opts.now ?? new Date()).getTime() - RECENTLY_DESTROYED_MS);
      and.push({ OR: [{ status: { in: [...ACTIVE_STATUSES] } }, { status: "destroyed", destroyedAt: { gt: cutoff } }] });
    }
  }
  if (f.q) and.push({ OR: [{ id: { startsWith: f.q } }, { profileId: { contains: f.q } }] });
  return { ownerId: f.ownerId, profileId: f.profileId, hostId: f.hostId, AND: and };
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
  for (const g of groups) counts[g.status as SandboxStatus] = g._count._all;
  return { rows, total, page, pageSize, counts };
}

export async function findSandbox(db: Db, id: string): Promise<SandboxDetailRow | null> {
  return db.sandbox.findUnique({ where: { id }, include: sandboxDetailInclude });
}

/**
 * Moves a sandbox from one of `from` to `to` if (and only if) it is still in one of `from` — and, when
 * `lockOperationId` is given, still locked by that operation. Returns whether the move happened.
 */
export async function transitionSandbox(
  db: Db | Prisma.TransactionClient,
  id: string,
  from: readonly SandboxStatus[],
  to: SandboxStatus,
  data: Omit<Prisma.SandboxUpdateManyMutationInput, "status"> = {},
  lockOperationId?: string,
): Promise<boolean> {
  const r = await db.sandbox.updateMany({
    where: { id, status: { in: [...from] }, lockOperationId },
    data: { ...data, status: to },
  });
  return r.count === 1;
}

/** What the state event of a move says; its `data` always carries the new status. */
export type StateEventInput = Pick<EventInput, "message" | "level" | "actorId" | "actorLabel"> & {
  data?: Record<string, Prisma.InputJsonValue>;
};

/**
 * transitionSandbox and the state event that explains the move, in one transaction: a reader (the
 * event stream, the dashboard) never sees a status without its event.
 */
export async function transitionWithEvent(
  tx: Prisma.TransactionClient,
  id: string,
  from: readonly SandboxStatus[],
  to: SandboxStatus,
  data: Omit<Prisma.SandboxUpdateManyMutationInput, "status">,
  event: StateEventInput,
  lockOperationId?: string,
): Promise<boolean> {
  if (!(await transitionSandbox(tx, id, from, to, data, lockOperationId))) return false;
  await tx.event.create(eventCreate({ ...event, sandboxId: id, type: "state", data: { ...event.data, status: to } }));
  return true;
}
