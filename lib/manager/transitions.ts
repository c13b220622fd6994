// The one writer of sandbox status. `transition()` checks the move against the state machine's table
// (states.ts), writes the status with the columns that go with it, the state event that explains it,
// the audit entry when there is one, and — when an operation is ending — the operation's outcome and
// the release of the sandbox's lock, all in one transaction. A reader (the event stream, the
// dashboard, another instance) therefore never sees a status without its event, nor a finished
// operation whose sandbox did not move. The database refuses status writes from anywhere else
// (lib/db/status-guard.ts).
import "server-only";

import type { Db, Prisma } from "../db/client";
import { appendEvents, type EventInput } from "../db/events";
import { endOperation, type OperationResult, type OperationRow } from "../db/operations";
import {
  insertSandboxRow,
  moveSandboxRow,
  moveSandboxRowReturning,
  type NewSandboxRow,
  type SandboxColumns,
  type StatusColumns,
} from "../db/sandboxes";
import { withStatusWrites } from "../db/status-guard";
import { auditEntry, type AuditInput } from "./audit";
import type { Notifier } from "./notifier";
import { assertTransition, type InitialStatus, type SandboxStatus } from "./states";

export type Tx = Prisma.TransactionClient;

/** What the state event of a move says; its data always carries the new status. */
export type StateEvent = Pick<EventInput, "message" | "level" | "actorId" | "actorLabel"> & {
  data?: Record<string, Prisma.InputJsonValue>;
};

export interface TransitionRequest {
  sandboxId: string;
  /** The statuses the sandbox may be in for the move to happen (each is checked against the table). */
  from: SandboxStatus | readonly SandboxStatus[];
  to: SandboxStatus;
  /** Columns written with the status (reason, timestamps). */
  set?: StatusColumns;
  event: StateEvent;
  /** Move only while this operation holds the sandbox's lock. */
  lockedBy?: string;
  /**
   * End this operation in the same transaction (and release its lock): only if `owner` still holds its
   * lease — otherwise nothing at all is written. `result` may depend on whether the sandbox moved.
   */
  finish?: { op: OperationRow; owner: string; result: OperationResult | ((moved: boolean) => OperationResult) };
  /** Written when the sandbox moved. */
  audit?: AuditInput;
  /** More writes in the same transaction, run only when the sandbox moved. */
  also?: (tx: Tx) => Promise<void>;
  /** Return the moved row's columns (the UPDATE returns them: no read after). */
  returnRow?: boolean;
}

export interface TransitionOutcome {
  /** The sandbox was in one of `from` (and locked by `lockedBy`) and is now in `to`. */
  moved: boolean;
  /** With `returnRow`: the moved row's columns as written (null when it did not move). */
  row?: SandboxColumns | null;
  /** `finish` was given and the operation ended (false: its lease was lost; nothing was written). */
  finished: boolean;
}

/** Thrown inside the transaction to roll it back when the operation's lease turns out to be lost. */
class LeaseLostRollback extends Error {}

export interface TransitionDeps {
  db: Db;
  notifier: Notifier;
}

/**
 * Moves a sandbox from one of `from` to `to` if (and only if) it is still there. Throws
 * ILLEGAL_TRANSITION when a move the caller asks for is not in the table (a programming error).
 */
export async function transition(deps: TransitionDeps, req: TransitionRequest): Promise<TransitionOutcome> {
  const from = typeof req.from === "string" ? [req.from] : req.from;
  for (const f of from) assertTransition(f, req.to);
  let outcome: TransitionOutcome;
  try {
    outcome = await deps.db.$transaction((tx) =>
      withStatusWrites(async () => {
        const move = { id: req.sandboxId, from, to: req.to, set: req.set, lockOperationId: req.lockedBy };
        const row = req.returnRow ? await moveSandboxRowReturning(tx, move) : undefined;
        const moved = req.returnRow ? row !== null : await moveSandboxRow(tx, move);
        if (moved) {
          await appendEvents(tx, [stateEvent(req.sandboxId, req.to, req.event)]);
          if (req.audit) await appendEvents(tx, [auditEntry(req.audit)]);
          if (req.also) await req.also(tx);
        }
        let finished = false;
        if (req.finish) {
          const { op, owner, result } = req.finish;
          if (!(await endOperation(tx, op, owner, typeof result === "function" ? result(moved) : result))) throw new LeaseLostRollback();
          finished = true;
        }
        return { moved, finished, ...(req.returnRow ? { row } : {}) };
      }),
    );
  } catch (e) {
    if (e instanceof LeaseLostRollback) return { moved: false, finished: false };
    throw e;
  }
  if (outcome.moved) deps.notifier.sandboxChanged(req.sandboxId);
  return outcome;
}

export interface InsertRequest {
  row: NewSandboxRow;
  status: InitialStatus;
  event: StateEvent;
  audit?: AuditInput;
  /** More writes in the same transaction (the create operation, the orphan record's removal…). */
  also?: (tx: Tx) => Promise<void>;
}

/**
 * Records a new sandbox in its initial status with the state event that explains it, in one
 * transaction; returns the row's columns as written.
 */
export async function insertSandbox(deps: TransitionDeps, req: InsertRequest): Promise<SandboxColumns> {
  const row = await deps.db.$transaction((tx) =>
    withStatusWrites(async () => {
      const inserted = await insertSandboxRow(tx, req.row, req.status);
      await appendEvents(tx, [stateEvent(req.row.id, req.status, req.event), ...(req.audit ? [auditEntry(req.audit)] : [])]);
      if (req.also) await req.also(tx);
      return inserted;
    }),
  );
  deps.notifier.sandboxChanged(req.row.id);
  return row;
}

function stateEvent(sandboxId: string, status: SandboxStatus, e: StateEvent): EventInput {
  return { ...e, sandboxId, type: "state", data: { ...e.data, status } };
}
