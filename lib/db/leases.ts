// Named leases (work that must run on one instance at a time: reaper, expiry, reconciler, health)
// and worker heartbeats (so a queued sandbox can say "waiting for a worker" when none is alive).
import "server-only";

import type { Db } from "./client";

/**
 * Takes or renews the lease `name` for `owner` until now+ttl. True when `owner` holds it afterwards.
 * Portable: insert-if-absent, then a conditional update that only succeeds for the holder or after expiry.
 */
export async function acquireLease(db: Db, name: string, owner: string, ttlMs: number, now = new Date()): Promise<boolean> {
  const expiresAt = new Date(now.getTime() + ttlMs);
  const r = await db.lease.updateMany({
    where: { name, OR: [{ owner }, { expiresAt: { lt: now } }] },
    data: { owner, expiresAt },
  });
  if (r.count === 1) return true;
  try {
    await db.lease.create({ data: { name, owner, expiresAt } });
    return true;
  } catch (e) {
    if ((e as { code?: string }).code === "P2002") return false; // someone else holds it
    throw e;
  }
}

export async function releaseLease(db: Db, name: string, owner: string): Promise<void> {
  await db.lease.deleteMany({ where: { name, owner } });
}

export async function workerHeartbeat(
  db: Db,
  w: { id: string; hostname: string; pid: number; machineId?: string | null },
  now = new Date(),
): Promise<void> {
  await db.worker.upsert({
    where: { id: w.id },
    create: { ...w, startedAt: now, heartbeatAt: now },
    update: { heartbeatAt: now },
  });
}

export async function removeWorker(db: Db, id: string): Promise<void> {
  await db.worker.deleteMany({ where: { id } });
}

export async function liveWorkerCount(db: Db, staleAfterMs: number, now = new Date()): Promise<number> {
  return db.worker.count({ where: { heartbeatAt: { gt: new Date(now.getTime() - staleAfterMs) } } });
}

/** Live workers per machine, for these machines. */
export async function liveWorkersOnMachines(
  db: Db,
  machineIds: string[],
  staleAfterMs: number,
  now = new Date(),
): Promise<Map<string, number>> {
  if (machineIds.length === 0) return new Map();
  const groups = await db.worker.groupBy({
    by: ["machineId"],
    where: { machineId: { in: machineIds }, heartbeatAt: { gt: new Date(now.getTime() - staleAfterMs) } },
    _count: { _all: true },
  });
  return new Map(groups.map((g) => [g.machineId ?? "", g._count._all]));
}

/** Removes the workers whose last heartbeat is before `cutoff`; returns them. */
export async function deleteWorkersSilentSince(db: Db, cutoff: Date): Promise<{ id: string; heartbeatAt: Date }[]> {
  const gone = await db.worker.findMany({ where: { heartbeatAt: { lt: cutoff } }, select: { id: true, heartbeatAt: true }, take: 100 });
  if (gone.length) await db.worker.deleteMany({ where: { id: { in: gone.map((w) => w.id) }, heartbeatAt: { lt: cutoff } } });
  return gone;
}
