// The sandbox lifecycle: one state machine, and the only place that says which moves are legal.
// Every status write in lib/manager goes through `assertTransition` (repositories refuse a write whose
// `from` no longer matches, so two processes cannot both make a move from the same state).
import { ConflictError } from "../errors";

export const SANDBOX_STATUSES = ["queued", "creating", "ready", "failed", "destroying", "destroyed", "destroy_failed", "missing"] as const;

export type SandboxStatus = (typeof SANDBOX_STATUSES)[number];

const TRANSITIONS: Record<SandboxStatus, readonly SandboxStatus[]> = {
  queued: ["creating", "destroying", "failed"],
  creating: ["ready", "failed", "destroying"],
  ready: ["destroying", "missing"],
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

/** Statuses whose expiry can still move (the sandbox is or will be live). */
export const EXTENDABLE_STATUSES: readonly SandboxStatus[] = ["queued", "creating", "ready"];

export function isExtendable(status: string): boolean {
  return (EXTENDABLE_STATUSES as readonly string[]).includes(status);
}

/** Statuses a person sees in the team overview by default (everything not yet gone). */
export const ACTIVE_STATUSES: readonly SandboxStatus[] = SANDBOX_STATUSES.filter((s) => s !== "destroyed");

/**
 * Statuses that count against a user's quota. Failed and destroyed sandboxes never do; neither does one
 * being destroyed, whose teardown failed (an infrastructure problem, not the user's), or that vanished.
 */
export const QUOTA_STATUSES: readonly SandboxStatus[] = ["queued", "creating", "ready"];

/** Work is in flight: the UI keeps polling. */
export function isTransient(status: SandboxStatus): boolean {
  return status === "queued" || status === "creating" || status === "destroying";
}

export const OPERATION_KINDS = ["create", "destroy", "reconcile", "cleanup"] as const;
export type OperationKind = (typeof OPERATION_KINDS)[number];

export const OPERATION_STATES = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
export type OperationState = (typeof OPERATION_STATES)[number];
