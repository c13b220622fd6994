// Placement: among the hosts a create may use, which one gets it, and why. Pure (no database, no
// SSH), so the ordering is unit-tested on its own; lib/manager/host-picker.ts feeds it the registry.
//
// Order of concerns, each one only breaking ties of the one before:
//  1. can it take the sandbox at all: healthy (or not yet checked), not cordoned, not being moved by
//     an admin's edit, the right image,
//     free disk at or above the floor, a free slot (each refusal is a reason a person can read);
//  2. free disk under the workspace root, in steps of about 19 % (a quarter power of two) below the
//     roomiest candidate, so two hosts with nearly the same space are a tie rather than an accident of
//     the last byte (steps counted from a fixed origin put two hosts 1 MiB apart in different steps
//     whenever a step boundary fell between them: a burst then went to one host only);
//  3. load: the 1-minute load average per CPU, in steps of 0.1, counting each sandbox placed there
//     since that figure was measured as one more runnable task (the figure is up to a health interval
//     old: without this, a burst of creates all went to the host that looked idlest at its last check);
//     then available memory, in the same steps below the best as disk;
//  4. the share of its capacity already used by sandboxes.
// Hosts never checked (no free-space figure) sort after checked ones within the same rank.

export interface PlacementCandidate {
  id: string;
  title: string;
  health: string;
  cordoned: boolean;
  cordonReason: string | null;
  /** An admin's change of where it is reached is being checked (lib/db/hosts.ts markHostEditing). */
  editing?: boolean;
  capacity: number;
  /** Sandboxes occupying it now. */
  sandboxes: number;
  freeBytes: number | null;
  loadAverage: number | null;
  cpuCount: number | null;
  /** Sandboxes placed on it since its load was measured (each adds one to the load it is ranked by). */
  placedSinceCheck: number;
  freeMemoryBytes: number | null;
  /** Why its image does not fit the profile's requirement, or null when it fits (or none is required). */
  imageMismatch: string | null;
  /** Text for an unhealthy host ("unreachable (connection refused)"). */
  healthText: string;
}

export interface PlacementPolicy {
  /** Free bytes below which a host gets no new sandboxes (0: no floor). */
  minFreeBytes: number;
}

export interface RankedHost {
  candidate: PlacementCandidate;
  /** One line: why it ranks where it does. */
  why: string;
}

export interface PlacementResult {
  /** Usable hosts, best first. */
  ranked: RankedHost[];
  /** Hosts ruled out, each with its reason. */
  refused: { candidate: PlacementCandidate; kind: RefusalKind; reason: string }[];
}

export const UNSCHEDULABLE_HEALTH = ["unreachable", "key_changed", "disabled", "unconfirmed"] as const;

function fmtBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  return `${Math.round(n / 2 ** 20)} MiB`;
}

/**
 * How many steps of about 19 % (a quarter power of two) a byte count lies below the best one among the
 * candidates (0: within 19 % of the best; smaller is better); null or nothing (never measured) ranks last,
 * tied with other never-measured ones (a finite number, so two of them subtract to 0).
 */
function stepsBelow(bytes: number | null, best: number): number {
  if (bytes === null || bytes <= 0) return Number.MAX_SAFE_INTEGER;
  return Math.floor(Math.log2(best / bytes) * 4);
}

/**
 * Load per CPU in steps of 0.1 (smaller is better), with `placed` sandboxes added since it was measured;
 * unknown ranks as 0.25 per CPU: after idle hosts, before busy ones.
 */
export function loadStep(load: number | null, cpus: number | null, placed: number): number {
  const n = Math.max(1, cpus ?? 1);
  return Math.round((((load ?? 0.25 * n) + placed) / n) * 10);
}

export type RefusalKind = "health" | "cordoned" | "editing" | "image" | "disk" | "full";

export function refusal(c: PlacementCandidate, policy: PlacementPolicy): { kind: RefusalKind; reason: string } | null {
  if ((UNSCHEDULABLE_HEALTH as readonly string[]).includes(c.health)) return { kind: "health", reason: `${c.title}: ${c.healthText}` };
  if (c.cordoned) return { kind: "cordoned", reason: `${c.title}: cordoned${c.cordonReason ? ` (${c.cordonReason})` : ""}` };
  if (c.editing) return { kind: "editing", reason: `${c.title}: an admin is changing where it is reached` };
  if (c.imageMismatch) return { kind: "image", reason: `${c.title}: ${c.imageMismatch}` };
  if (policy.minFreeBytes > 0 && c.freeBytes !== null && c.freeBytes < policy.minFreeBytes)
    return {
      kind: "disk",
      reason: `${c.title}: ${fmtBytes(c.freeBytes)} free, below the floor of ${fmtBytes(policy.minFreeBytes)} (SANDBOXER_HOST_MIN_FREE_MB)`,
    };
  if (c.sandboxes >= c.capacity) return { kind: "full", reason: `${c.title} has ${c.sandboxes}/${c.capacity} sandboxes` };
  return null;
}

function comparer(usable: PlacementCandidate[]): (a: PlacementCandidate, b: PlacementCandidate) => number {
  const best = (f: (c: PlacementCandidate) => number | null) => Math.max(0, ...usable.map((c) => f(c) ?? 0));
  const disk = best((c) => c.freeBytes);
  const memory = best((c) => c.freeMemoryBytes);
  return (a, b) =>
    stepsBelow(a.freeBytes, disk) - stepsBelow(b.freeBytes, disk) ||
    loadStep(a.loadAverage, a.cpuCount, a.placedSinceCheck) - loadStep(b.loadAverage, b.cpuCount, b.placedSinceCheck) ||
    stepsBelow(a.freeMemoryBytes, memory) - stepsBelow(b.freeMemoryBytes, memory) ||
    a.sandboxes / a.capacity - b.sandboxes / b.capacity ||
    a.id.localeCompare(b.id);
}

function describe(c: PlacementCandidate): string {
  const parts = [
    c.freeBytes === null ? "free disk not measured yet" : `${fmtBytes(c.freeBytes)} free`,
    c.loadAverage === null
      ? "load not measured"
      : `load ${c.loadAverage.toFixed(2)} on ${c.cpuCount ?? "?"} CPU${c.cpuCount === 1 ? "" : "s"}`,
    ...(c.placedSinceCheck > 0 ? [`${c.placedSinceCheck} placed since checked`] : []),
    ...(c.freeMemoryBytes === null ? [] : [`${fmtBytes(c.freeMemoryBytes)} memory available`]),
    `${c.sandboxes}/${c.capacity} sandboxes`,
  ];
  return `${c.title} (${parts.join(", ")})`;
}

export function rankHosts(candidates: PlacementCandidate[], policy: PlacementPolicy): PlacementResult {
  const refused: PlacementResult["refused"] = [];
  const usable: PlacementCandidate[] = [];
  for (const c of candidates) {
    const r = refusal(c, policy);
    if (r) refused.push({ candidate: c, ...r });
    else usable.push(c);
  }
  usable.sort(comparer(usable));
  return { ranked: usable.map((c) => ({ candidate: c, why: describe(c) })), refused };
}

/** The log line of a placement decision: the pick, the runners-up and what was ruled out. */
export function placementReason(picked: RankedHost, result: PlacementResult): string {
  const others = result.ranked.filter((r) => r.candidate.id !== picked.candidate.id).map((r) => r.why);
  return [
    `Placed on ${picked.why}`,
    ...(others.length ? [`over ${others.join("; ")}`] : []),
    ...(result.refused.length ? [`not eligible: ${result.refused.map((r) => r.reason).join("; ")}`] : []),
  ].join(" — ");
}
