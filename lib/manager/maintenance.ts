// Periodic upkeep that keeps the promise "nothing stuck, nothing orphaned": expiry (destroy what
// outlived its TTL, as the system), and repair of sandboxes whose operation went missing. Each job runs
// on one instance at a time under a named lease; any worker can take over when that instance dies.
import "server-only";

import { systemActor } from "../auth/actor";
import { hostsDueForCheck } from "../db/hosts";
import { insertOperation, operationCreate } from "../db/operations";
import { appendEvents } from "../db/events";
import { deleteWorkersSilentSince } from "../db/leases";
import { expiredSandboxes, sandboxesWithoutOperation } from "../db/sandboxes";
import { publicMessage } from "../errors";
import type { ManagerContext } from "./context";
import { requestReconcile } from "./host-ops";
import { EXPIRABLE_STATUSES, IN_FLIGHT_STATUSES, parseStatus } from "./states";
import { transition } from "./transitions";

/** Destroys sandboxes past their expiry. Returns the ids it destroyed. */
export async function expireSandboxes(
  m: Pick<ManagerContext, "db" | "logger"> & {
    destroySandbox(id: string, actor: ReturnType<typeof systemActor>, opts: { reason: string }): Promise<unknown>;
  },
  now = new Date(),
  limit = 50,
): Promise<string[]> {
  const due = await expiredSandboxes(m.db, EXPIRABLE_STATUSES, now, limit);
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
export async function repairOrphanedStates(
  m: Pick<ManagerContext, "db" | "notifier" | "config">,
  now = new Date(),
  graceMs = 60_000,
): Promise<number> {
  const suspects = await sandboxesWithoutOperation(m.db, IN_FLIGHT_STATUSES, new Date(now.getTime() - graceMs), 100);
  let repaired = 0;
  for (const s of suspects) {
    const status = parseStatus(s.status);
    if (status === "destroying") {
      await m.db.$transaction(async (tx) => {
        await insertOperation(tx, operationCreate({ kind: "destroy", sandboxId: s.id, maxAttempts: m.config.maxAttempts }));
        await appendEvents(tx, [
          { sandboxId: s.id, type: "log", level: "warn", message: "No teardown was queued for this destroying sandbox; queued one" },
        ]);
      });
      repaired++;
    } else if (status === "queued" || status === "creating") {
      const reason = "Its create operation was lost (no worker will run it); destroy it to clean up";
      const r = await transition(m, {
        sandboxId: s.id,
        from: status,
        to: "failed",
        set: { statusReason: reason },
        event: { level: "error", message: `Failed: ${reason}` },
      });
      if (r.moved) repaired++;
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
export async function scheduleHostChecks(m: Pick<ManagerContext, "db" | "notifier" | "ssh" | "config">, now = new Date()): Promise<number> {
  if (!m.ssh || !m.config.autoHostChecks) return 0;
  let n = 0;
  for (const id of await hostsDueForCheck(m.db, new Date(now.getTime() - m.config.healthIntervalMs))) {
    if (await requestReconcile(m, id, null)) n++;
  }
  return n;
}

/**
 * Forgets workers that stopped heartbeating long ago (killed without a clean stop): they count as
 * gone after `workerStaleMs`; their rows go after ten times that (at least 10 min), with a log line
 * naming each, so the Worker table holds the live fleet and the recently gone, not every process ever.
 */
export async function removeGoneWorkers(m: Pick<ManagerContext, "db" | "logger" | "config">, now = new Date()): Promise<number> {
  const cutoff = new Date(now.getTime() - Math.max(10 * m.config.workerStaleMs, 10 * 60_000));
  const gone = await deleteWorkersSilentSince(m.db, cutoff);
  for (const w of gone) m.logger.info({ worker: w.id, lastHeartbeat: w.heartbeatAt.toISOString() }, "worker gone: removed from the fleet");
  return gone.length;
}
