// Picks a build host for a create: the named host, or the best eligible host with a label (see
// ./placement.ts for the order: health, cordon, image, disk floor, capacity; then free disk, load
// with the sandboxes placed since it was measured, sandbox count), never beyond a host's capacity.
// Reservation is "assign, then recount": two workers racing for the last slot cannot both keep it
// (one backs off and waits), on SQLite and PostgreSQL alike.
//
// Warm-pool members (lib/manager/pools.ts) count against capacity, but a person never waits for them:
// a person's create counts only people's sandboxes, and on a host that is full only because of members
// it evicts one. A member's create takes only free slots, and at most SANDBOXER_POOL_REFILL_PER_HOST
// members are made on one host at once.
import "server-only";

import type { Db } from "../db/client";
import {
  findHost,
  hostBeingEdited,
  hostLabels,
  listHosts,
  occupancy,
  occupancyByHost,
  placedSinceCheckByHost,
  toHostTarget,
  type HostRow,
} from "../db/hosts";
import { fillingMembers, occupancyWithPeopleByHost, personOccupancy } from "../db/pools";
import { assignHost } from "../db/sandboxes";
import type { HostRequirement, HostTarget } from "../extensions/base";
import { placementReason, rankHosts, type PlacementCandidate } from "./placement";
import { OCCUPYING_STATUSES } from "./states";

export type HostPick =
  | { kind: "picked"; host: HostTarget; reason: string }
  /** Nothing can ever satisfy the requirement (no such host or label): the create fails. */
  | { kind: "none"; reason: string }
  /** Hosts exist but none can take it now (capacity, health, cordon, disk, image): the create waits in the queue. */
  | { kind: "wait"; reason: string; full?: boolean };

/** Whose create this is, for the warm-pool rules (null: no pools involved, every sandbox counts alike). */
export type PoolPicking =
  | { kind: "member"; perHost: number }
  /** `evict` takes one member on the host out of the pool; false when there was none to take. */
  | { kind: "person"; evict: (hostId: string) => Promise<boolean> }
  | null;

export interface PickOptions {
  /** Free bytes below which a host gets no new sandboxes. */
  minFreeBytes: number;
  /** Why a host's image does not fit the profile's requirement (null: it fits or nothing is required). */
  imageMismatch?: (host: HostRow) => string | null;
  pool?: PoolPicking;
}

export function healthText(h: HostRow): string {
  if (h.health === "key_changed")
    return `host key changed — pinned ${h.hostKey}, offered ${h.offeredHostKey ?? "unknown"} (an admin must verify and pin the new key)`;
  if (h.health === "disabled") return `disabled${h.healthDetail ? ` (${h.healthDetail})` : " by an admin"}`;
  // An add, a move to a new address and a rebuild in place each say why in the detail.
  if (h.health === "unconfirmed") return h.healthDetail ?? "waiting for an admin to confirm its host key";
  return `unreachable${h.healthDetail ? ` (${h.healthDetail})` : ""}`;
}

function candidateOf(h: HostRow, sandboxes: number, imageMismatch: string | null, placedSinceCheck: number): PlacementCandidate {
  return {
    id: h.id,
    title: h.title,
    health: h.health,
    cordoned: h.cordoned,
    cordonReason: h.cordonReason,
    editing: hostBeingEdited(h),
    capacity: h.capacity,
    sandboxes,
    freeBytes: h.freeBytes === null ? null : Number(h.freeBytes),
    loadAverage: h.loadAverage,
    cpuCount: h.cpuCount,
    placedSinceCheck,
    freeMemoryBytes: h.freeMemoryBytes === null ? null : Number(h.freeMemoryBytes),
    imageMismatch,
    healthText: healthText(h),
  };
}

/** Whether a sandbox placed on `b` would reach and trust the host `a` describes (what its handle records). */
function sameConnection(a: HostRow, b: HostRow): boolean {
  return (
    a.address === b.address && a.port === b.port && a.user === b.user && a.hostKey === b.hostKey && a.workspaceRoot === b.workspaceRoot
  );
}

/** The hosts a requirement names (by id or label), and why none do when the list is empty. */
export async function hostsMatching(db: Db, req: HostRequirement): Promise<{ hosts: HostRow[]; none: string }> {
  const all = await listHosts(db);
  if ("hostId" in req)
    return {
      hosts: all.filter((h) => h.id === req.hostId),
      none: `No build host named "${req.hostId}" is registered (see the Hosts page)`,
    };
  return {
    hosts: all.filter((h) => hostLabels(h).includes(req.label)),
    none: `No build host has the label "${req.label}" (see the Hosts page)`,
  };
}

export async function pickHost(
  db: Db,
  sandboxId: string,
  operationId: string,
  req: HostRequirement,
  /** A retry keeps the host its earlier attempt was given (its slot is already counted). */
  currentHostId: string | null = null,
  opts: PickOptions = { minFreeBytes: 0 },
): Promise<HostPick> {
  const current = currentHostId ? await findHost(db, currentHostId) : null;
  if (current) return { kind: "picked", host: toHostTarget(current), reason: `Keeping ${current.title} from the earlier attempt` };
  return oneAtATime(db, () => pickNewHost(db, sandboxId, operationId, req, opts));
}

/**
 * The picks of this process, one after another: each reads the counts with the hosts the ones before
 * it took. Side by side, a burst of creates all read the same counts and all took the same (emptiest)
 * host, up to its capacity. Another process's picks can still interleave; capacity holds anyway (the
 * count is checked again after the assignment), only the spread is best effort across processes.
 */
const picking = new WeakMap<object, Promise<unknown>>();
function oneAtATime<T>(db: object, fn: () => Promise<T>): Promise<T> {
  const run = (picking.get(db) ?? Promise.resolve()).then(fn, fn);
  picking.set(
    db,
    run.catch(() => {}),
  );
  return run;
}

async function pickNewHost(db: Db, sandboxId: string, operationId: string, req: HostRequirement, opts: PickOptions): Promise<HostPick> {
  const { hosts: matching, none } = await hostsMatching(db, req);
  if (matching.length === 0) return { kind: "none", reason: none };
  const pool = opts.pool ?? null;
  // A person's create counts only people's sandboxes (members make room); a member's counts everything.
  const { all: load, people } =
    pool?.kind === "person" ? await occupancyWithPeopleByHost(db, OCCUPYING_STATUSES) : { all: await occupancyByHost(db), people: null };
  const filling = pool?.kind === "member" ? (await fillingMembers(db)).byHost : null;
  const placed = await placedSinceCheckByHost(db, matching);
  const result = rankHosts(
    matching.map((h) =>
      candidateOf(h, (people ? people.get(h.id) : load.get(h.id)) ?? 0, opts.imageMismatch?.(h) ?? null, placed.get(h.id) ?? 0),
    ),
    { minFreeBytes: opts.minFreeBytes },
  );
  let refillBusy = false;
  for (const r of result.ranked) {
    const host = matching.find((h) => h.id === r.candidate.id)!;
    if (filling && pool?.kind === "member" && (filling.get(host.id) ?? 0) >= pool.perHost) {
      refillBusy = true;
      continue;
    }
    if (!(await assignHost(db, sandboxId, operationId, host.id)))
      return { kind: "wait", reason: "Lost the sandbox lock while picking a host" };
    const reason = placementReason(r, result);
    // Read again after the assignment: an admin's edit of where the host is reached marks it before
    // looking for live sandboxes, so one of the two sees the other (lib/db/hosts.ts markHostEditing).
    const now = await findHost(db, host.id);
    if (!now || hostBeingEdited(now) || !sameConnection(now, host)) {
      await assignHost(db, sandboxId, operationId, null);
      return { kind: "wait", reason: `Waiting for a host: ${host.title} is being changed by an admin` };
    }
    if ((await occupancy(db, host.id)) <= host.capacity) return { kind: "picked", host: toHostTarget(host), reason };
    if (pool?.kind === "person" && (await personOccupancy(db, host.id, OCCUPYING_STATUSES)) <= host.capacity) {
      // Full only because of warm-pool members: one makes room.
      if (await pool.evict(host.id)) return { kind: "picked", host: toHostTarget(host), reason };
    }
    await assignHost(db, sandboxId, operationId, null);
  }
  // (A member held back only by the per-host refill cap waits its turn; one refused for capacity gives up.)
  const onlyFull = result.refused.every((r) => r.kind === "full") && !refillBusy;
  const reasons = [
    ...result.refused.map((r) => r.reason),
    ...result.ranked.map((r) =>
      refillBusy && filling && (filling.get(r.candidate.id) ?? 0) >= (pool?.kind === "member" ? pool.perHost : Infinity)
        ? `${r.candidate.title} is already making ${filling.get(r.candidate.id)} warm-pool members`
        : `${r.candidate.title} has ${load.get(r.candidate.id) ?? 0}/${r.candidate.capacity} sandboxes`,
    ),
  ];
  return { kind: "wait", full: onlyFull, reason: `${onlyFull ? "Waiting for capacity" : "Waiting for a host"}: ${reasons.join("; ")}` };
}
