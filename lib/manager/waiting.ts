// Why a sandbox whose work is in flight is not moving, computed at read time from the row and the
// worker heartbeats, so ANY instance — web-only ones included — can say it. The reaper runs only in
// workers: with none alive, a create whose worker died would otherwise sit in `creating` saying
// nothing. Pure (the caller reads the rows); the manager calls it for every in-flight view.
import type { SandboxStatus } from "./states";

/** What the reason is computed from: the sandbox's lock (held by its running operation) and the workers. */
export interface WaitingInput {
  status: SandboxStatus;
  statusReason: string | null;
  /** The running operation's id while one holds the sandbox, else null. */
  lockOperationId: string | null;
  /** The lease of that operation: extended by its worker's heartbeat; in the past once it stopped. */
  lockExpiresAt: Date | null;
  /** The machine a local sandbox lives on (null: any worker may run its operations). */
  machineId?: string | null;
}

export interface WaitingContext {
  now: Date;
  /** Workers that heartbeated recently (all instances and `npm run worker` processes). */
  liveWorkers: number;
  /** Live workers on the sandbox's machine, when it is bound to one. */
  liveWorkersOnMachine?: number;
  /** The worker that held the expired lease, when known. */
  leaseOwner?: string | null;
}

export interface Stuck {
  reason: string;
  /** When the lease of its running operation expired (ISO), or null when it waits without one. */
  since: string | null;
}

const NO_WORKER_HINT = "the web server runs one unless SANDBOXER_WORKER=off; or start `npm run worker`";

function verb(status: SandboxStatus): string {
  return status === "destroying" ? "destroy" : "create";
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  const m = Math.round(s / 60);
  return m < 120 ? `${m} min` : `${Math.round(m / 60)} h`;
}

/** The reason a new sandbox is recorded with, before any worker has looked at it. */
export const INITIAL_REASON = "Waiting for a worker";

/**
 * Null when the sandbox is moving (or not in flight). Otherwise the reason it waits, and what to do —
 * the reason a view shows in place of the stored one. An operation is stuck when its lease expired: its
 * worker stopped heartbeating (killed, host hung); that replaces the stored reason. Waiting with no
 * worker to run it, a reason a worker stored earlier (no host with room, a cordoned host, an image no
 * host has) follows: both are true, and the stored one says what else must change once a worker runs.
 */
export function stuckReason(s: WaitingInput, c: WaitingContext): Stuck | null {
  const waiting = waitingReason(s, c);
  if (!waiting || waiting.since !== null || !s.statusReason || s.statusReason === INITIAL_REASON) return waiting;
  return { since: null, reason: `${waiting.reason} — ${s.statusReason}` };
}

function waitingReason(s: WaitingInput, c: WaitingContext): Stuck | null {
  if (s.status !== "queued" && s.status !== "creating" && s.status !== "destroying") return null;
  const machine = s.machineId ?? null;
  const onMachine = machine ? (c.liveWorkersOnMachine ?? 0) : c.liveWorkers;
  const expired = s.lockOperationId !== null && s.lockExpiresAt !== null && s.lockExpiresAt.getTime() < c.now.getTime();
  if (expired) {
    const since = s.lockExpiresAt!;
    const who = c.leaseOwner ? ` (${c.leaseOwner})` : "";
    const head = `The worker running its ${verb(s.status)}${who} stopped responding ${ago(c.now.getTime() - since.getTime())} ago`;
    if (machine && onMachine === 0) {
      return {
        since: since.toISOString(),
        reason: `${head}, and no worker is running on machine ${machine}, where this local sandbox lives: start a worker there (${NO_WORKER_HINT}); it will be retried then`,
      };
    }
    if (onMachine === 0) {
      return {
        since: since.toISOString(),
        reason: `${head}, and no worker is running to retry it (${NO_WORKER_HINT}); it will be retried when one starts`,
      };
    }
    return { since: since.toISOString(), reason: `${head}; a live worker will retry it within a lease time` };
  }
  if (s.lockOperationId !== null) return null; // a live worker holds it
  if (machine && onMachine === 0) {
    return {
      since: null,
      reason: `Waiting for a worker on machine ${machine}, where this local sandbox lives: none is running there (${NO_WORKER_HINT})`,
    };
  }
  if (c.liveWorkers === 0) return { since: null, reason: `Waiting for a worker: none is running (${NO_WORKER_HINT})` };
  return null;
}
