// Picks a build host for a create: the named host, or the least-loaded healthy host with a label,
// never beyond a host's capacity. Reservation is "assign, then recount": two workers racing for the
// last slot cannot both keep it (one backs off and waits), on SQLite and PostgreSQL alike.
//
// Warm-pool members (lib/manager/pools.ts) count against capacity, but a person never waits for them:
// a person's create counts only people's sandboxes, and on a host that is full only because of members
// it evicts one. A member's create takes only free slots, and at most SANDBOXER_POOL_REFILL_PER_HOST
// members are made on one host at once.
import "server-only";

import type { Db } from "../db/client";
import { findHost, hostLabels, listHosts, occupancy, occupancyByHost, toHostTarget, UNSCHEDULABLE_HEALTH, type HostRow } from "../db/hosts";
import { fillingMembers, personOccupancy, personOccupancyByHost } from "../db/pools";
import { assignHost } from "../db/sandboxes";
import type { HostRequirement, HostTarget } from "../extensions/base";
import { OCCUPYING_STATUSES } from "./states";

export type HostPick =
  | { kind: "picked"; host: HostTarget }
  /** Nothing can ever satisfy the requirement (no such host or label): the create fails. */
  | { kind: "none"; reason: string }
  /** Hosts exist but none can take it now (capacity, health): the create waits in the queue. */
  | { kind: "wait"; reason: string; full?: boolean };

function describeUnhealthy(h: HostRow): string {
  if (h.health === "key_changed") {
    return `${h.title}: host key changed — pinned ${h.hostKey}, offered ${h.offeredHostKey ?? "unknown"} (an admin must verify and pin the new key)`;
  }
  if (h.health === "disabled") return `${h.title}: disabled by an admin`;
  return `${h.title}: unreachable${h.healthDetail ? ` (${h.healthDetail})` : ""}`;
}

/** The hosts a requirement names (by id or label), and why none do when the list is empty. */
export async function hostsMatching(db: Db, req: HostRequirement): Promise<{ hosts: HostRow[]; none: string }> {
  const all = await listHosts(db);
  if ("hostId" in req)
    return { hosts: all.filter((h) => h.id === req.hostId), none: `No build host named "${req.hostId}" is registered (see hosts.yaml)` };
  return {
    hosts: all.filter((h) => hostLabels(h).includes(req.label)),
    none: `No build host has the label "${req.label}" (see hosts.yaml)`,
  };
}

/** Whose create this is, for the warm-pool rules (null: no pools involved, every sandbox counts alike). */
export type PoolPicking =
  | { kind: "member"; perHost: number }
  /** `evict` takes one member on the host out of the pool; false when there was none to take. */
  | { kind: "person"; evict: (hostId: string) => Promise<boolean> }
  | null;

export async function pickHost(
  db: Db,
  sandboxId: string,
  operationId: string,
  req: HostRequirement,
  /** A retry keeps the host its earlier attempt was given (its slot is already counted). */
  currentHostId: string | null = null,
  pool: PoolPicking = null,
): Promise<HostPick> {
  const current = currentHostId ? await findHost(db, currentHostId) : null;
  if (current) return { kind: "picked", host: toHostTarget(current) };
  const { hosts: matching, none } = await hostsMatching(db, req);
  if (matching.length === 0) return { kind: "none", reason: none };
  const healthy = matching.filter((h) => !(UNSCHEDULABLE_HEALTH as readonly string[]).includes(h.health));
  if (healthy.length === 0) {
    return { kind: "wait", reason: `Waiting for a host: ${matching.map(describeUnhealthy).join("; ")}` };
  }
  const load = await occupancyByHost(db);
  const people = pool?.kind === "person" ? await personOccupancyByHost(db, OCCUPYING_STATUSES) : null;
  const filling = pool?.kind === "member" ? (await fillingMembers(db)).byHost : null;
  const byLoad = [...healthy].sort((a, b) => (load.get(a.id) ?? 0) / a.capacity - (load.get(b.id) ?? 0) / b.capacity);
  for (const host of byLoad) {
    if (((people ? people.get(host.id) : load.get(host.id)) ?? 0) >= host.capacity) continue;
    if (filling && pool?.kind === "member" && (filling.get(host.id) ?? 0) >= pool.perHost) continue;
    if (!(await assignHost(db, sandboxId, operationId, host.id)))
      return { kind: "wait", reason: "Lost the sandbox lock while picking a host" };
    if ((await occupancy(db, host.id)) <= host.capacity) return { kind: "picked", host: toHostTarget(host) };
    if (pool?.kind === "person" && (await personOccupancy(db, host.id, OCCUPYING_STATUSES)) <= host.capacity) {
      // Full only because of warm-pool members: one makes room.
      if (await pool.evict(host.id)) return { kind: "picked", host: toHostTarget(host) };
    }
    await assignHost(db, sandboxId, operationId, null);
  }
  return {
    kind: "wait",
    full: true,
    reason: `Waiting for capacity: ${healthy.map((h) => `${h.title} has ${load.get(h.id) ?? 0}/${h.capacity} sandboxes`).join("; ")}`,
  };
}
