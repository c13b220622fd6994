// Periodic upkeep that keeps the promise "nothing stuck, nothing orphaned": expiry (destroy what
// outlived its TTL, as the system), and repair of sandboxes whose operation went missing. Each job runs
// on one instance at a time under a named lease; any worker can take over when that instance dies.
import "server-only";

import { systemActor } from "../auth/actor";
import { eventCreate } from "../db/events";
import { operationCreate } from "../db/operations";
import { transitionWithEvent } from "../db/sandboxes";
import { publicMessage } from "../errors";
import { requestReconcile } from "./host-ops";
import type { Manager } from "./manager";

/** Statuses an expired sandbox is destroyed from (destroy_failed waits for a person's Retry). */
const EXPIRABLE = ["queued", "creating", "ready", "failed", "missing"];

/** Destroys sandboxes past their expiry. Returns the ids it destroyed. */
export async function expireSandboxes(m: Manager, now = new Date(), limit = 50): Promise<string[]> {
  const due = await m.db.sandbox.findMany({
    where: { status: { in: EXPIRABLE }, expiresAt: { lt: now } },
    select: { id: true, expiresAt: true },
    orderBy: { expiresAt: "asc" },
    take: limit,
  });
  const done: string[] = [];
  for (const s of due) {
    try {
      await m.destroySandbox(s.id, systemActor("expiry"), { reason: `Expired at ${s.expiresAt?.toISOString()}; destroyed by the system` });
      done.push(s.id);
    } catch (e) {
      m.logger.warn({ sandboxId: s.id, err: e }, `could not expire sandbox: ${publicMessage(e)}`);
    }
  }
  return done;
}

/**
 * Repairs sandboxes whose state promises work that no operation will do (a bug or a hand-edited
 * database must not leave them in limbo): `destroying` without a destroy gets one; `queued` or
 * `creating` without a create fails with a reason (its handle, if any, stays for a destroy).
 */
export async function repairOrphanedStates(m: Manager, now = new Date(), graceMs = 60_000): Promise<number> {
  const cutoff = new Date(now.getTime() - graceMs);
  const suspects = await m.db.sandbox.findMany({
    where: {
      status: { in: ["queued", "creating", "destroying"] },
      updatedAt: { lt: cutoff },
      operations: { none: { state: { in: ["queued", "running"] } } },
    },
    select: { id: true, status: true },
    take: 100,
  });
  let repaired = 0;
  for (const s of suspects) {
    if (s.status === "destroying") {
      await m.db.$transaction([
        m.db.operation.create(operationCreate({ kind: "destroy", sandboxId: s.id, maxAttempts: m.config.maxAttempts })),
        m.db.event.create(
          eventCreate({
            sandboxId: s.id,
            type: "log",
            level: "warn",
            message: "No teardown was queued for this destroying sandbox; queued one",
          }),
        ),
      ]);
      repaired++;
    } else {
      const reason = "Its create operation was lost (no worker will run it); destroy it to clean up";
      const moved = await m.db.$transaction((tx) =>
        transitionWithEvent(
          tx,
          s.id,
          [s.status as "queued" | "creating"],
          "failed",
          { statusReason: reason },
          { level: "error", message: `Failed: ${reason}` },
        ),
      );
      if (moved) repaired++;
    }
    m.notifier.sandboxChanged(s.id);
  }
  if (repaired) m.notifier.operationQueued();
  return repaired;
}

/**
 * Queues a health check (with drift reconciliation) for every host whose last check is older than the
 * health interval. The timestamps live in the database, so whichever instance holds the maintenance
 * lease schedules, and a restart does not reset the clock.
 */
export async function scheduleHostChecks(m: Manager, now = new Date()): Promise<number> {
  if (!m.ssh || !m.config.autoHostChecks) return 0;
  const due = await m.db.buildHost.findMany({
    where: {
      health: { not: "disabled" },
      OR: [{ checkedAt: null }, { checkedAt: { lt: new Date(now.getTime() - m.config.healthIntervalMs) } }],
    },
    select: { id: true },
  });
  let n = 0;
  for (const h of due) if (await requestReconcile(m, h.id, null)) n++;
  return n;
}
