// The sandbox lifecycle: one state machine, and the only place that says which moves are legal and
// which statuses mean what. Every status write goes through `transition()` (./transitions.ts), which
// checks the move against this table; the database refuses any other write of `status` (see
// lib/db/status-guard.ts). Statuses read from the database are narrowed once, by `parseStatus`.
import { ConflictError } from "../errors";

export const SANDBOX_STATUSES = [
  "queued",
  "creating",
  "ready",
  "pooled",
  "failed",
  "destroying",
  "destroyed",
  "destroy_failed",
  "missing",
] as const;

export type SandboxStatus = (typeof SANDBOX_STATUSES)[number];

/** The status a new record starts in: a create, or an orphan workspace adopted as it stands. */
export const INITIAL_STATUSES = ["queued", "ready"] as const satisfies readonly SandboxStatus[];
export type InitialStatus = (typeof INITIAL_STATUSES)[number];

const TRANSITIONS: Record<SandboxStatus, readonly SandboxStatus[]> = {
  queued: ["creating", "destroying", "failed"],
  // A warm-pool member's create ends in `pooled` (its workspace verified present) instead of `ready`.
  creating: ["ready", "pooled", "failed", "destroying"],
  ready: ["destroying", "missing"],
  // Claimed by a person's create (ready, theirs; creating while it is moved to another git ref on its
  // VM), recycled (destroying) or found gone by the reconciler.
  pooled: ["ready", "creating", "destroying", "missing"],
  failed: ["destroying"],
  destroying: ["destroyed", "destroy_failed"],
  destroy_failed: ["destroying", "destroyed"],
  // A workspace found gone by the reconciler: it may come back, or be closed (destroy is a no-op then).
  missing: ["ready", "destroying", "destroyed"],
  destroyed: [],
};

export function canTransition(from: SandboxStatus, to: SandboxStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Throws ConflictError ILLEGAL_TRANSITION naming both states. */
export function assertTransition(from: SandboxStatus, to: SandboxStatus): void {
  if (!canTransition(from, to)) {
    throw new ConflictError("ILLEGAL_TRANSITION", `A sandbox cannot go from ${from} to ${to}`, { from, to });
  }
}

export function isSandboxStatus(value: string): value is SandboxStatus {
  return (SANDBOX_STATUSES as readonly string[]).includes(value);
}

/**
 * Narrows a status read from the database. Only the transition function writes statuses, so anything
 * else is a corrupted row: it is reported as `failed` (a person can still destroy it) rather than
 * crashing a page.
 */
export function parseStatus(value: string): SandboxStatus {
  return isSandboxStatus(value) ? value : "failed";
}

// ─── Status sets: what each status means to the rest of the system ─────────────────────────────

/** Statuses whose expiry can still move (the sandbox is or will be live). */
export const EXTENDABLE_STATUSES = ["queued", "creating", "ready"] as const satisfies readonly SandboxStatus[];

/** Statuses a person sees in the team overview by default (everything not yet gone). */
export const ACTIVE_STATUSES: readonly SandboxStatus[] = SANDBOX_STATUSES.filter((s) => s !== "destroyed");

/**
 * Statuses that count against a user's quota. Failed and destroyed sandboxes never do; neither does one
 * being destroyed, whose teardown failed (an infrastructure problem, not the user's), or that vanished.
 */
export const QUOTA_STATUSES = ["queued", "creating", "ready"] as const satisfies readonly SandboxStatus[];

/** Statuses an expired sandbox is destroyed from (destroy_failed waits for a person's Retry). */
export const EXPIRABLE_STATUSES = [
  "queued",
  "creating",
  "ready",
  "pooled",
  "failed",
  "missing",
] as const satisfies readonly SandboxStatus[];

/**
 * What a sandbox's expiry means to a person, by status: `ends` — the sandbox is (or will be) usable and
 * goes away then (extend moves it); `cleanup` — it failed or vanished, and the system removes what is
 * left then; null — the time no longer matters (being destroyed, destroyed, or waiting for a person's
 * retry), so pages and the CLI do not show it.
 */
export function expiryMeaning(status: SandboxStatus): "ends" | "cleanup" | null {
  if (status === "failed" || status === "missing") return "cleanup";
  return (EXPIRABLE_STATUSES as readonly SandboxStatus[]).includes(status) ? "ends" : null;
}

/** Statuses in which a sandbox holds (or is about to hold) a slot on its host. */
export const OCCUPYING_STATUSES = [
  "queued",
  "creating",
  "ready",
  "pooled",
  "destroying",
  "destroy_failed",
  "missing",
] as const satisfies readonly SandboxStatus[];

/** Statuses whose record accounts for a workspace (it may or may not exist yet, or any more): never an orphan. */
export const ACCOUNTED_STATUSES = [
  "queued",
  "creating",
  "ready",
  "pooled",
  "failed",
  "destroying",
  "destroy_failed",
  "missing",
] as const satisfies readonly SandboxStatus[];

/** Statuses whose workspace the reconciler expects to find on its host. */
export const EXPECT_WORKSPACE_STATUSES = ["ready", "pooled"] as const satisfies readonly SandboxStatus[];

/** Statuses that promise work some operation will do; the repair job looks for ones without it. */
export const IN_FLIGHT_STATUSES = ["queued", "creating", "destroying"] as const satisfies readonly SandboxStatus[];

export function isIn<S extends SandboxStatus>(set: readonly S[], status: SandboxStatus): status is S {
  return (set as readonly SandboxStatus[]).includes(status);
}

export function isExtendable(status: SandboxStatus): boolean {
  return isIn(EXTENDABLE_STATUSES, status);
}

/** Work is in flight: the UI keeps following it. */
export function isTransient(status: SandboxStatus): boolean {
  return isIn(IN_FLIGHT_STATUSES, status);
}

// ─── Operations ──────────────────────────────────────────────────────────────────────────────────

export const OPERATION_KINDS = ["create", "destroy", "reconcile", "cleanup", "refill", "image_build"] as const;
export type OperationKind = (typeof OPERATION_KINDS)[number];

export function isOperationKind(value: string): value is OperationKind {
  return (OPERATION_KINDS as readonly string[]).includes(value);
}

export type OperationState = "queued" | "running" | "succeeded" | "failed" | "cancelled";
/** The states an operation ends in. */
export type OperationOutcome = Extract<OperationState, "succeeded" | "failed" | "cancelled">;
