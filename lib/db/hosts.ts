// Build hosts: the registry the manager picks from, with capacity counted from sandbox rows.
import "server-only";

import type { HostTarget } from "../extensions/base";
import { OCCUPYING_STATUSES } from "../manager/states";
import type { Db, Prisma } from "./client";

export type HostRow = Prisma.BuildHostGetPayload<object>;

/** Hosts in these health states get no new sandboxes. */
export { UNSCHEDULABLE_HEALTH } from "../manager/placement";

export function hostLabels(row: Pick<HostRow, "labels">): string[] {
  return Array.isArray(row.labels) ? row.labels.filter((l): l is string => typeof l === "string") : [];
}

export function toHostTarget(row: HostRow): HostTarget {
  return {
    id: row.id,
    title: row.title,
    address: row.address,
    port: row.port,
    user: row.user,
    hostKey: row.hostKey,
    workspaceRoot: row.workspaceRoot,
    labels: hostLabels(row),
  };
}

export async function listHosts(db: Db, ids?: string[]): Promise<HostRow[]> {
  return db.buildHost.findMany({ where: ids ? { id: { in: ids } } : {}, orderBy: { id: "asc" } });
}

/** Sandboxes occupying each host (or each of `hostIds`), in one query. */
export async function occupancyByHost(db: Db, hostIds?: string[]): Promise<Map<string, number>> {
  const groups = await db.sandbox.groupBy({
    by: ["hostId"],
    where: { hostId: hostIds ? { in: hostIds } : { not: null }, status: { in: [...OCCUPYING_STATUSES] } },
    _count: { _all: true },
  });
  return new Map(groups.map((g) => [g.hostId!, g._count._all]));
}

/**
 * Per host, the occupying sandboxes created since its last check (all of them when it was never
 * checked): placement counts them on top of the load that check measured.
 */
export async function placedSinceCheckByHost(db: Db, hosts: Pick<HostRow, "id" | "checkedAt">[]): Promise<Map<string, number>> {
  if (hosts.length === 0) return new Map();
  const groups = await db.sandbox.groupBy({
    by: ["hostId"],
    where: {
      status: { in: [...OCCUPYING_STATUSES] },
      OR: hosts.map((h) => (h.checkedAt ? { hostId: h.id, createdAt: { gt: h.checkedAt } } : { hostId: h.id })),
    },
    _count: { _all: true },
  });
  return new Map(groups.map((g) => [g.hostId!, g._count._all]));
}

/** Sandboxes occupying one host (by the hostId/status index). */
export async function occupancy(db: Db, hostId: string): Promise<number> {
  return db.sandbox.count({ where: { hostId, status: { in: [...OCCUPYING_STATUSES] } } });
}

export async function findHost(db: Db, id: string): Promise<HostRow | null> {
  return db.buildHost.findUnique({ where: { id } });
}

/** The registry's pinned key and the last full key seen, of one host. */
export async function hostKeys(db: Db, id: string): Promise<{ hostKey: string; hostPublicKey: string | null } | null> {
  return db.buildHost.findUnique({ where: { id }, select: { hostKey: true, hostPublicKey: true } });
}

export type HostUpdate = Pick<
  Prisma.BuildHostUpdateInput,
  | "health"
  | "healthDetail"
  | "offeredHostKey"
  | "hostKey"
  | "hostPublicKey"
  | "freeBytes"
  | "checkedAt"
  | "healthyAt"
  | "loadAverage"
  | "cpuCount"
  | "freeMemoryBytes"
  | "imageName"
  | "imageVersion"
  | "imageBuiltAt"
  | "imageDetail"
  | "cordoned"
  | "cordonReason"
  | "cordonedAt"
  | "cordonedBy"
  | "drainedAt"
>;

export async function updateHost(db: Db, id: string, data: HostUpdate): Promise<void> {
  await db.buildHost.update({ where: { id }, data });
}

/** Hosts (not disabled, key confirmed) whose last check is older than `before`, or never checked. */
export async function hostsDueForCheck(db: Db, before: Date): Promise<string[]> {
  const rows = await db.buildHost.findMany({
    where: { health: { notIn: ["disabled", "unconfirmed"] }, OR: [{ checkedAt: null }, { checkedAt: { lt: before } }] },
    select: { id: true },
  });
  return rows.map((r) => r.id);
}

export async function countHostsByHealth(db: Db): Promise<{ health: string; count: number }[]> {
  const groups = await db.buildHost.groupBy({ by: ["health"], _count: { _all: true } });
  return groups.map((g) => ({ health: g.health, count: g._count._all }));
}

// ─── Orphan workspaces (found on a host, no live record) ────────────────────────────────────────

export type OrphanRow = Prisma.OrphanWorkspaceGetPayload<object>;

export async function findOrphan(db: Db, id: string): Promise<OrphanRow | null> {
  return db.orphanWorkspace.findUnique({ where: { id } });
}

export async function findOrphanWithHost(db: Db, id: string) {
  return db.orphanWorkspace.findUnique({ where: { id }, include: { host: true } });
}

export async function listOrphanRows(db: Db): Promise<OrphanRow[]> {
  return db.orphanWorkspace.findMany({ orderBy: [{ hostId: "asc" }, { name: "asc" }] });
}

/**
 * Replaces a host's orphan list with `found` (name → path, plus the extension that recognised it):
 * new ones are added, seen ones refreshed, ones no longer found dropped.
 */
export async function syncOrphans(
  db: Db,
  hostId: string,
  found: { name: string; path: string; extensionId: string }[],
  now: Date,
): Promise<void> {
  for (const o of found) {
    await db.orphanWorkspace.upsert({
      where: { hostId_name: { hostId, name: o.name } },
      create: { id: `${hostId}/${o.name}`, hostId, name: o.name, path: o.path, extensionId: o.extensionId, lastSeenAt: now },
      update: { lastSeenAt: now, path: o.path, extensionId: o.extensionId },
    });
  }
  await db.orphanWorkspace.deleteMany({ where: { hostId, name: { notIn: found.map((o) => o.name) } } });
}

export async function deleteOrphan(db: Db | Prisma.TransactionClient, hostId: string, name: string): Promise<void> {
  await db.orphanWorkspace.deleteMany({ where: { hostId, name } });
}

// ─── Cordon, drain, and what still runs on a host ───────────────────────────────────────────────

/** Sandboxes still holding a slot on a host (what a drain waits for), soonest expiry first. */
export async function liveSandboxesOnHost(db: Db, hostId: string) {
  return db.sandbox.findMany({
    where: { hostId, status: { in: [...OCCUPYING_STATUSES] } },
    select: { id: true, status: true, profileId: true, expiresAt: true, poolKey: true, owner: { select: { email: true } } },
    orderBy: [{ expiresAt: "asc" }, { id: "asc" }],
  });
}

export async function createHost(db: Db, data: Prisma.BuildHostCreateInput): Promise<HostRow> {
  return db.buildHost.create({ data });
}

/** What an admin's edit of a host may write (its settings, and the key state an address change resets). */
export type HostEdit = Pick<
  Prisma.BuildHostUpdateInput,
  | "title"
  | "address"
  | "port"
  | "tunnelPort"
  | "user"
  | "labels"
  | "capacity"
  | "workspaceRoot"
  | "markerPath"
  | "hostKey"
  | "offeredHostKey"
  | "hostPublicKey"
  | "health"
  | "healthDetail"
>;

/** The settings an edit was decided on; the write happens only while the row still has them. */
export type HostSettingsSeen = Pick<
  HostRow,
  "title" | "address" | "port" | "tunnelPort" | "user" | "capacity" | "workspaceRoot" | "markerPath"
>;

/**
 * Writes an admin's edit if the host's settings are still those the edit was decided on (another
 * admin's edit in between makes it false: nothing written). Health writes do not count as a change.
 */
export async function editHost(
  db: Db,
  id: string,
  data: HostEdit,
  seen: Partial<HostSettingsSeen>,
  /** The edit's own mark (markHostEditing): required still there, and cleared by the same write. */
  mark: Date | null = null,
): Promise<boolean> {
  const { count } = await db.buildHost.updateMany({
    where: { id, ...seen, ...(mark ? { editingSince: mark } : {}) },
    data: { ...data, ...(mark ? { editingSince: null } : {}) },
  });
  return count === 1;
}

/** How long an edit's mark holds placement off a host; older, the server that set it is taken as gone. */
export const HOST_EDIT_HOLD_MS = 120_000;

/** Whether an edit of the host is being checked now (placement leaves the host alone meanwhile). */
export function hostBeingEdited(row: Pick<HostRow, "editingSince">, now = Date.now()): boolean {
  return row.editingSince !== null && row.editingSince.getTime() > now - HOST_EDIT_HOLD_MS;
}

/**
 * Marks the host as being edited, if its settings are still `seen` and no other edit holds it; returns
 * the mark (for editHost / deleteHostMarked / endHostEditing) or null. Written before the edit checks
 * for live sandboxes, as placement assigns a sandbox before it re-reads the host: of two such
 * write-then-read pairs one always sees the other's write, so an edit and a placement on one host
 * cannot both go ahead on the old settings.
 */
export async function markHostEditing(db: Db, id: string, seen: Partial<HostSettingsSeen> = {}): Promise<Date | null> {
  const now = new Date();
  const { count } = await db.buildHost.updateMany({
    where: { id, ...seen, OR: [{ editingSince: null }, { editingSince: { lt: new Date(now.getTime() - HOST_EDIT_HOLD_MS) } }] },
    data: { editingSince: now },
  });
  return count === 1 ? now : null;
}

/** Clears an edit's mark (an edit that wrote nothing); another edit's mark is left alone. */
export async function endHostEditing(db: Db, id: string, mark: Date): Promise<void> {
  await db.buildHost.updateMany({ where: { id, editingSince: mark }, data: { editingSince: null } });
}

/** Removes the host while the removal's own mark is on it; false when it is gone or marked by another. */
export async function deleteHostMarked(db: Db, id: string, mark: Date): Promise<boolean> {
  const { count } = await db.buildHost.deleteMany({ where: { id, editingSince: mark } });
  return count === 1;
}

/** The host (other than `except`) that holds a tunnel port, if any. */
export async function tunnelPortHolder(db: Db, port: number, except: string): Promise<string | null> {
  const h = await db.buildHost.findFirst({ where: { tunnelPort: port, NOT: { id: except } }, select: { id: true } });
  return h?.id ?? null;
}
