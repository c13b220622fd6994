// Build hosts: the registry the manager picks from, with capacity counted from sandbox rows.
import "server-only";

import type { HostTarget } from "../extensions/base";
import type { SandboxStatus } from "../manager/states";
import type { Db, Prisma } from "./client";

export type HostRow = Prisma.BuildHostGetPayload<object>;

/** Statuses in which a sandbox holds (or is about to hold) a slot on its host. */
export const OCCUPYING_STATUSES: readonly SandboxStatus[] = ["queued", "creating", "ready", "destroying", "destroy_failed", "missing"];

/** Hosts in these health states get no new sandboxes. */
export const UNSCHEDULABLE_HEALTH = ["unreachable", "key_changed", "disabled"] as const;

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

export async function listHosts(db: Db): Promise<HostRow[]> {
  return db.buildHost.findMany({ orderBy: { id: "asc" } });
}

/** Sandboxes occupying each host, in one query. */
export async function occupancyByHost(db: Db): Promise<Map<string, number>> {
  const groups = await db.sandbox.groupBy({
    by: ["hostId"],
    where: { hostId: { not: null }, status: { in: [...OCCUPYING_STATUSES] } },
    _count: { _all: true },
  });
  return new Map(groups.map((g) => [g.hostId!, g._count._all]));
}

export async function occupancy(db: Db, hostId: string): Promise<number> {
  return db.sandbox.count({ where: { hostId, status: { in: [...OCCUPYING_STATUSES] } } });
}
