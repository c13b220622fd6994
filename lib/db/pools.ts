// Warm-pool members: sandbox rows owned by the pool's system account with a `poolKey`. The claim is
// one conditional update (status pooled → ready with the requester as owner); the refill counts and
// recycles members. Only lib/manager/transitions.ts writes a status (see lib/db/status-guard.ts).
import "server-only";

import { UNSCHEDULABLE_HEALTH } from "./hosts";
import type { Db, Prisma } from "./client";

/** The account that owns warm-pool members. It cannot sign in (no credentials) and is not listed as a person. */
export const POOL_OWNER = { id: "system-pool", name: "Warm pool", email: "warm-pool@sandboxer.invalid", role: "system" } as const;

/** Creates the pool's owner account if it is not there yet. */
export async function ensurePoolOwner(db: Db): Promise<string> {
  await db.user.upsert({ where: { id: POOL_OWNER.id }, create: { ...POOL_OWNER }, update: {} });
  return POOL_OWNER.id;
}

/** Statuses of a member that is (or will soon be) in the pool. */
const FILLING = ["queued", "creating"];

/**
 * Up to `limit` claimable members of a pool: pooled, on a host that may take work. Oldest first, so
 * the members nearest their maximum age go first.
 */
export async function claimCandidates(db: Db, poolKey: string, limit: number): Promise<{ id: string }[]> {
  return db.sandbox.findMany({
    where: {
      poolKey,
      status: "pooled",
      // A cordoned host takes no new sandboxes: its members are not handed out (a drain retires them).
      OR: [{ hostId: null }, { host: { health: { notIn: [...UNSCHEDULABLE_HEALTH] }, cordoned: false } }],
    },
    select: { id: true },
    orderBy: { createdAt: "asc" },
    take: limit,
  });
}

/** The columns a claim writes with the status (inside transition()'s transaction). */
export interface ClaimColumns {
  ownerId: string;
  input: Prisma.InputJsonValue;
  expiresAt: Date;
  maxExpiresAt: Date;
}

/** Members per profile and status, for the profiles page and the API (one group-by). */
export async function poolCounts(db: Db): Promise<Map<string, { pooled: number; filling: number }>> {
  const groups = await db.sandbox.groupBy({
    by: ["profileId", "status"],
    where: { poolKey: { not: null }, status: { in: ["pooled", ...FILLING] } },
    _count: { _all: true },
  });
  const out = new Map<string, { pooled: number; filling: number }>();
  for (const g of groups) {
    const c = out.get(g.profileId) ?? { pooled: 0, filling: 0 };
    if (g.status === "pooled") c.pooled += g._count._all;
    else c.filling += g._count._all;
    out.set(g.profileId, c);
  }
  return out;
}

/** Members per host: ready ones and all live ones (the hosts page's "pool 3/4 ready"). */
export async function poolCountsByHost(db: Db, hostIds?: string[]): Promise<Map<string, { pooled: number; total: number }>> {
  const groups = await db.sandbox.groupBy({
    by: ["hostId", "status"],
    where: { poolKey: { not: null }, hostId: hostIds ? { in: hostIds } : { not: null }, status: { in: ["pooled", ...FILLING] } },
    _count: { _all: true },
  });
  const out = new Map<string, { pooled: number; total: number }>();
  for (const g of groups) {
    const c = out.get(g.hostId!) ?? { pooled: 0, total: 0 };
    if (g.status === "pooled") c.pooled += g._count._all;
    c.total += g._count._all;
    out.set(g.hostId!, c);
  }
  return out;
}

/** Members being made right now, on each host and overall (the refill caps). */
export async function fillingMembers(db: Db): Promise<{ total: number; byHost: Map<string, number>; byProfile: Map<string, number> }> {
  const rows = await db.sandbox.findMany({
    where: { poolKey: { not: null }, status: { in: FILLING } },
    select: { hostId: true, profileId: true },
  });
  const byHost = new Map<string, number>();
  const byProfile = new Map<string, number>();
  for (const r of rows) {
    if (r.hostId) byHost.set(r.hostId, (byHost.get(r.hostId) ?? 0) + 1);
    byProfile.set(r.profileId, (byProfile.get(r.profileId) ?? 0) + 1);
  }
  return { total: rows.length, byHost, byProfile };
}

/** Sandboxes on a host that are not pool members, in `statuses` (a person's view of its capacity). */
export async function personOccupancy(db: Db, hostId: string, statuses: readonly string[]): Promise<number> {
  return db.sandbox.count({ where: { hostId, poolKey: null, status: { in: [...statuses] } } });
}

/**
 * Per host, the sandboxes in `statuses` (`all`) and those of them that are not warm-pool members
 * (`people`), in one query: grouped by host and pool, so a row per host and pool.
 */
export async function occupancyWithPeopleByHost(
  db: Db,
  statuses: readonly string[],
): Promise<{ all: Map<string, number>; people: Map<string, number> }> {
  const groups = await db.sandbox.groupBy({
    by: ["hostId", "poolKey"],
    where: { hostId: { not: null }, status: { in: [...statuses] } },
    _count: { _all: true },
  });
  const all = new Map<string, number>();
  const people = new Map<string, number>();
  for (const g of groups) {
    const host = g.hostId!;
    all.set(host, (all.get(host) ?? 0) + g._count._all);
    if (g.poolKey === null) people.set(host, (people.get(host) ?? 0) + g._count._all);
  }
  return { all, people };
}

/** An idle member on the host to evict for a person's create: a ready one first (nothing to cancel), the oldest. */
export async function evictableMember(db: Db, hostId: string): Promise<{ id: string; status: string } | null> {
  const where = { hostId, poolKey: { not: null } };
  const select = { id: true, status: true };
  return (
    (await db.sandbox.findFirst({ where: { ...where, status: "pooled" }, select, orderBy: { createdAt: "asc" } })) ??
    (await db.sandbox.findFirst({ where: { ...where, status: { in: FILLING } }, select, orderBy: { createdAt: "asc" } }))
  );
}

/**
 * Any live record of a pool member exists (a refill has something to look after even without pools).
 * `poolKey > ''` (every key is `pk_…`), not `IS NOT NULL`: SQLite, without statistics, scans the whole
 * table for the latter (0.6–2.7 ms over 10,000 sandboxes, every maintenance pass) and searches the
 * (poolKey, status) index for the former (0.01 ms).
 */
export async function anyPoolMember(db: Db): Promise<boolean> {
  return (await db.sandbox.findFirst({ where: { poolKey: { gt: "" }, status: { not: "destroyed" } }, select: { id: true } })) !== null;
}

/** A refill is queued and not started yet (a second one would find nothing more to do). */
export async function refillQueued(db: Db): Promise<boolean> {
  return (await db.operation.findFirst({ where: { kind: "refill", state: "queued" }, select: { id: true } })) !== null;
}

/**
 * Members to recycle, on hosts that can take a teardown: made for a key their profile no longer has
 * (the profile changed or lost its pool), failed, or missing (their host went down, or the workspace vanished).
 */
export async function recyclableMembers(db: Db, currentKeys: string[], limit: number) {
  return db.sandbox.findMany({
    where: {
      poolKey: { not: null },
      AND: [
        { OR: [{ status: { in: ["pooled", ...FILLING] }, poolKey: { notIn: currentKeys } }, { status: { in: ["failed", "missing"] } }] },
        { OR: [{ hostId: null }, { host: { health: { notIn: [...UNSCHEDULABLE_HEALTH] } } }] },
      ],
    },
    select: { id: true, status: true, poolKey: true, profileId: true, updatedAt: true },
    take: limit,
  });
}

/** Ready members on hosts that turned unreachable, changed their key or were disabled. */
export async function membersOnDownHosts(db: Db) {
  return db.sandbox.findMany({
    where: { poolKey: { not: null }, status: "pooled", host: { health: { in: [...UNSCHEDULABLE_HEALTH] } } },
    select: { id: true, host: { select: { id: true, title: true, health: true } } },
  });
}

/** Members per pool key: ready, being made, and failed (a failed one keeps its slot through its cool-down). */
export async function liveMembersByKey(db: Db): Promise<Map<string, { pooled: number; filling: number; failed: number }>> {
  const groups = await db.sandbox.groupBy({
    by: ["poolKey", "status"],
    where: { poolKey: { not: null }, status: { in: ["pooled", "failed", ...FILLING] } },
    _count: { _all: true },
  });
  const out = new Map<string, { pooled: number; filling: number; failed: number }>();
  for (const g of groups) {
    const c = out.get(g.poolKey!) ?? { pooled: 0, filling: 0, failed: 0 };
    if (g.status === "pooled") c.pooled += g._count._all;
    else if (g.status === "failed") c.failed += g._count._all;
    else c.filling += g._count._all;
    out.set(g.poolKey!, c);
  }
  return out;
}
