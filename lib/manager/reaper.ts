// The reaper: finds operations whose worker stopped heartbeating (process died, host hung) and puts
// them back in the queue with backoff. The next claim counts an attempt; past the limit the worker
// runs the operation once more in give-up mode (clean up, then failed / destroy_failed with the reason).
// Runs on one instance at a time (the "reaper" lease); any instance can take over.
import "server-only";

import { appendEvents } from "../db/events";
import { findExpiredLeases, requeueExpired } from "../db/operations";
import type { ManagerConfig, ManagerContext } from "./context";

/**
 * How often a running worker looks for expired leases: a sixth of a lease, or each poll if that is
 * longer. An operation whose worker died is reaped between one lease and 7/6 of a lease after its
 * last renewal (30–35 s with the defaults) instead of 30–31 s; the look and the reaper's own lease
 * were two of the three statements an idle worker ran every second.
 */
export function reapIntervalMs(config: Pick<ManagerConfig, "pollMs" | "leaseMs">): number {
  return Math.max(config.pollMs, Math.floor(config.leaseMs / 6));
}

export function retryBackoffMs(attempt: number, baseMs: number): number {
  return Math.min(baseMs * 2 ** Math.max(0, attempt - 1), 60_000);
}

/** Requeues expired operations. Returns how many were requeued. */
export async function reapExpiredOperations(
  m: Pick<ManagerContext, "db" | "notifier" | "logger" | "config">,
  now = new Date(),
): Promise<number> {
  const expired = await findExpiredLeases(m.db, now);
  let requeued = 0;
  for (const op of expired) {
    const giveUp = op.attempt >= op.maxAttempts;
    const delay = giveUp ? 0 : retryBackoffMs(op.attempt, m.config.retryBackoffMs);
    // Its worker came back, or another reaper got there first.
    if (!(await requeueExpired(m.db, op, now, new Date(now.getTime() + delay)))) continue;
    requeued++;
    const message = giveUp
      ? `The worker running this ${op.kind} (${op.leaseOwner}) stopped responding on attempt ${op.attempt} of ${op.maxAttempts}; giving up after cleanup`
      : `The worker running this ${op.kind} (${op.leaseOwner}) stopped responding; retrying in ${Math.round(delay / 1000)} s (attempt ${op.attempt + 1} of ${op.maxAttempts})`;
    m.logger.warn({ op: op.id, sandboxId: op.sandboxId, attempt: op.attempt, leaseOwner: op.leaseOwner }, "operation lease expired");
    if (op.sandboxId) {
      await appendEvents(m.db, [{ sandboxId: op.sandboxId, type: "log", level: "warn", message }]);
      m.notifier.sandboxChanged(op.sandboxId);
    }
  }
  if (requeued > 0) m.notifier.operationQueued();
  return requeued;
}
