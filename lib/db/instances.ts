// The Instance table: web instances sharing the database (lib/manager/peers.ts).
import "server-only";

import type { Db } from "./client";

export async function instanceHeartbeat(
  db: Db,
  i: { id: string; machineId: string | null; publicUrl: string; role: string },
  now = new Date(),
): Promise<void> {
  await db.instance.upsert({
    where: { id: i.id },
    create: { ...i, startedAt: now, heartbeatAt: now },
    update: { heartbeatAt: now, publicUrl: i.publicUrl, role: i.role, machineId: i.machineId },
  });
}

export async function livePeerInstances(db: Db, selfId: string, since: Date): Promise<{ id: string; publicUrl: string }[]> {
  return db.instance.findMany({
    where: { id: { not: selfId }, heartbeatAt: { gt: since } },
    select: { id: true, publicUrl: true },
    orderBy: { startedAt: "asc" },
    take: 100,
  });
}

export async function removeInstance(db: Db, id: string): Promise<void> {
  await db.instance.deleteMany({ where: { id } });
}
