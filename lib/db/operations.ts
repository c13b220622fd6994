// Durable operations and their leases. Claiming is two conditional updates, portable across SQLite
// and PostgreSQL and safe across processes: first the sandbox's lock (so at most one operation runs
// per sandbox), then the operation itself (so exactly one worker runs it). A worker that loses its
// lease (it stalled past the expiry and someone reclaimed) finds its conditional writes refused.
import "server-only";

import { randomUUID } from "node:crypto";

import type { OperationKind, OperationOutcome } from "../manager/states";
import type { Db, Prisma } from "./client";
import { storableText } from "./storable";

export type OperationRow = Prisma.OperationGetPayload<object>;

export function newOperationId(): string {
  return `op_${randomUUID().replaceAll("-", "").slice(0, 20)}`;
}

export function operationCreate(input: {
  id?: string;
  kind: OperationKind;
  sandboxId?: string | null;
  hostId?: string | null;
  maxAttempts: number;
  actorId?: string | null;
  runAfter?: Date;
  payload?: Prisma.InputJsonValue;
}): Prisma.OperationCreateArgs {
  return {
    data: {
      id: input.id ?? newOperationId(),
      kind: input.kind,
      sandboxId: input.sandboxId ?? null,
      hostId: input.hostId ?? null,
      state: "queued",
      maxAttempts: input.maxAttempts,
      actorId: input.actorId ?? null,
      runAfter: input.runAfter ?? new Date(),
      payload: input.payload,
    },
  };
}

/** Which sandboxes a worker on `machineId` may touch: unbound ones, and those bound to its machine. */
function onMachine(machineId: string | null): Prisma.SandboxWhereInput {
  return machineId ? { OR: [{ machineId: null }, { machineId }] } : { machineId: null };
}

/**
 * Queued operations that may run now, oldest first; with `machineId` given (undefined: any), only
 * those of sandboxes that worker may run (see onMachine). With `lookaheadMs` also those whose time
 * comes within it, after the claimable ones: the worker sleeps until the first of them.
 */
export async function findClaimable(db: Db, now: Date, limit: number, machineId?: string | null, lookaheadMs = 0): Promise<OperationRow[]> {
  return db.operation.findMany({
    where: {
      state: "queued",
      runAfter: { lte: lookaheadMs > 0 ? new Date(now.getTime() + lookaheadMs) : now },
      ...(machineId === undefined ? {} : { OR: [{ sandboxId: null }, { sandbox: { is: onMachine(machineId) } }] }),
    },
    orderBy: [{ runAfter: "asc" }, { createdAt: "asc" }],
    take: limit,
  });
}

/**
 * Tries to take an operation for `owner`. Returns the claimed row (attempt incremented) or null when the
 * sandbox is locked by another live operation or another worker claimed this one first.
 */
export async function claimOperation(
  db: Db,
  op: Pick<OperationRow, "id" | "sandboxId">,
  owner: string,
  now: Date,
  leaseMs: number,
  machineId?: string | null,
): Promise<OperationRow | null> {
  const leaseExpiresAt = new Date(now.getTime() + leaseMs);
  if (op.sandboxId) {
    const locked = await db.sandbox.updateMany({
      where: {
        id: op.sandboxId,
        OR: [{ lockOperationId: null }, { lockExpiresAt: { lt: now } }, { lockOperationId: op.id }],
        ...(machineId === undefined ? {} : { AND: [onMachine(machineId)] }),
      },
      data: { lockOperationId: op.id, lockExpiresAt: leaseExpiresAt },
    });
    if (locked.count === 0) return null;
  }
  // One statement (UPDATE … RETURNING): the claimed row comes back with the update.
  const [claimed] = await db.operation.updateManyAndReturn({
    where: { id: op.id, state: "queued", runAfter: { lte: now } },
    data: {
      state: "running",
      leaseOwner: owner,
      leaseExpiresAt,
      heartbeatAt: now,
      startedAt: now,
      attempt: { increment: 1 },
    },
  });
  if (claimed) return claimed;
  // Lost the race for the operation. When another worker won, it holds the sandbox lock under the same
  // operation id: left as it is. When the operation ended between the lock and the claim (a destroy
  // cancelled the queued create), nobody will ever release that lock: give it back now, or the destroy
  // waits for it to expire (a lease, 30 s).
  if (op.sandboxId) {
    const current = await db.operation.findUnique({ where: { id: op.id }, select: { state: true } });
    const ended = !current || (current.state !== "queued" && current.state !== "running");
    if (ended) {
      await db.sandbox.updateMany({
        where: { id: op.sandboxId, lockOperationId: op.id },
        data: { lockOperationId: null, lockExpiresAt: null },
      });
    }
  }
  return null;
}

/** Extends the lease. False when the lease was lost (reclaimed by another worker). */
export async function heartbeat(db: Db, op: OperationRow, owner: string, now: Date, leaseMs: number): Promise<boolean> {
  const leaseExpiresAt = new Date(now.getTime() + leaseMs);
  const r = await db.operation.updateMany({
    where: { id: op.id, leaseOwner: owner, state: "running" },
    data: { heartbeatAt: now, leaseExpiresAt },
  });
  if (r.count === 0) return false;
  if (op.sandboxId) {
    await db.sandbox.updateMany({
      where: { id: op.sandboxId, lockOperationId: op.id },
      data: { lockExpiresAt: leaseExpiresAt },
    });
  }
  return true;
}

/** Whether a destroy (or an admin) asked this operation to stop. */
export async function isCancelRequested(db: Db, id: string): Promise<boolean> {
  const row = await db.operation.findUnique({ where: { id }, select: { cancelRequested: true } });
  return row?.cancelRequested ?? true;
}

/** How an operation ended. */
export interface OperationResult {
  state: OperationOutcome;
  errorCode?: string;
  error?: string;
}

/**
 * Ends an operation held by `owner` and releases its sandbox lock, inside the caller's transaction
 * (lib/manager/transitions.ts writes the sandbox's move in the same one). False when the lease was
 * lost (another worker reclaimed it): then nothing is written.
 */
export async function endOperation(
  tx: Prisma.TransactionClient,
  op: OperationRow,
  owner: string,
  result: OperationResult,
): Promise<boolean> {
  const r = await tx.operation.updateMany({
    where: { id: op.id, leaseOwner: owner, state: "running" },
    data: {
      state: result.state,
      errorCode: result.errorCode ?? null,
      error: result.error === undefined ? null : storableText(result.error),
      finishedAt: new Date(),
      leaseExpiresAt: null,
    },
  });
  if (r.count !== 1) return false;
  if (op.sandboxId) {
    await tx.sandbox.updateMany({
      where: { id: op.sandboxId, lockOperationId: op.id },
      data: { lockOperationId: null, lockExpiresAt: null },
    });
  }
  return true;
}

/** endOperation in a transaction of its own, for operations that end without moving a sandbox. */
export async function finishOperation(db: Db, op: OperationRow, owner: string, result: OperationResult): Promise<boolean> {
  return db.$transaction((tx) => endOperation(tx, op, owner, result));
}

/** Puts a held operation back in the queue (e.g. waiting for host capacity) without counting an attempt. */
export async function requeueOperation(db: Db, op: OperationRow, owner: string, runAfter: Date): Promise<void> {
  await db.$transaction([
    db.operation.updateMany({
      where: { id: op.id, leaseOwner: owner, state: "running" },
      data: { state: "queued", leaseOwner: null, leaseExpiresAt: null, runAfter, attempt: { decrement: 1 } },
    }),
    ...(op.sandboxId
      ? [
          db.sandbox.updateMany({
            where: { id: op.sandboxId, lockOperationId: op.id },
            data: { lockOperationId: null, lockExpiresAt: null },
          }),
        ]
      : []),
  ]);
}

/** Running operations whose lease has expired: their worker died or hung. */
export async function findExpiredLeases(db: Db, now: Date, limit = 100): Promise<OperationRow[]> {
  return db.operation.findMany({
    where: { state: "running", leaseExpiresAt: { lt: now } },
    orderBy: { leaseExpiresAt: "asc" },
    take: limit,
  });
}

/** Active (queued or running) operations of a sandbox. */
export async function activeOperations(db: Db | Prisma.TransactionClient, sandboxId: string): Promise<OperationRow[]> {
  return db.operation.findMany({
    where: { sandboxId, state: { in: ["queued", "running"] } },
    orderBy: { createdAt: "asc" },
  });
}

/** Marks queued operations cancelled (a destroy stops a create that never started). */
export async function cancelQueued(tx: Prisma.TransactionClient, id: string, reason: string): Promise<void> {
  await tx.operation.update({ where: { id }, data: { state: "cancelled", finishedAt: new Date(), error: storableText(reason) } });
}

/** Asks a running operation to stop (its worker polls the flag; see isCancelRequested). */
export async function requestCancel(tx: Prisma.TransactionClient, id: string): Promise<void> {
  await tx.operation.update({ where: { id }, data: { cancelRequested: true } });
}

export async function insertOperation(db: Db | Prisma.TransactionClient, args: Prisma.OperationCreateArgs): Promise<void> {
  await db.operation.create(args);
}

/** Makes a queued operation claimable now (a create is held back until its quota re-check passed). */
export async function releaseOperation(db: Db, id: string, now = new Date()): Promise<void> {
  await db.operation.update({ where: { id }, data: { runAfter: now } });
}

/** Queued creates older than `createdAt` (a queued sandbox's place in the queue). */
export async function queuedCreatesBefore(db: Db, createdAt: Date): Promise<number> {
  return db.operation.count({ where: { kind: "create", state: "queued", createdAt: { lt: createdAt } } });
}

/** Whether a host operation of `kind` is queued or running (optionally only for this payload). */
export async function hostOperationPending(db: Db, kind: OperationKind, hostId: string, payload?: Prisma.InputJsonValue): Promise<boolean> {
  const n = await db.operation.count({
    where: { kind, hostId, state: { in: ["queued", "running"] }, ...(payload === undefined ? {} : { payload: { equals: payload } }) },
  });
  return n > 0;
}

/** Puts an expired running operation back in the queue; false if its worker came back or another reaper got there first. */
export async function requeueExpired(db: Db, op: OperationRow, now: Date, runAfter: Date): Promise<boolean> {
  const r = await db.operation.updateMany({
    where: { id: op.id, state: "running", leaseExpiresAt: { lt: now } },
    data: { state: "queued", leaseOwner: null, leaseExpiresAt: null, runAfter },
  });
  return r.count === 1;
}

/** Which of these operations are still queued or running, with when a queued one may run. */
export async function unfinishedOperations(db: Db, ids: string[]): Promise<{ id: string; state: string; runAfter: Date }[]> {
  if (ids.length === 0) return [];
  return db.operation.findMany({
    where: { id: { in: ids }, state: { in: ["queued", "running"] } },
    select: { id: true, state: true, runAfter: true },
  });
}

/** Operations by kind and state, and how many are queued (the metrics). */
export async function countOperationsByKindAndState(db: Db): Promise<{ kind: string; state: string; count: number }[]> {
  const groups = await db.operation.groupBy({ by: ["kind", "state"], _count: { _all: true } });
  return groups.map((g) => ({ kind: g.kind, state: g.state, count: g._count._all }));
}

export async function queueDepth(db: Db): Promise<number> {
  return db.operation.count({ where: { state: "queued" } });
}

/** Who held each of these operations' leases (the worker a stuck sandbox waits on). */
export async function leaseOwners(db: Db, ids: string[]): Promise<Map<string, string | null>> {
  if (ids.length === 0) return new Map();
  const rows = await db.operation.findMany({ where: { id: { in: ids } }, select: { id: true, leaseOwner: true } });
  return new Map(rows.map((r) => [r.id, r.leaseOwner]));
}

/** When the oldest claimable queued operation was made claimable (the queue's age), or null. */
export async function oldestQueuedAt(db: Db, now: Date): Promise<Date | null> {
  const row = await db.operation.findFirst({
    where: { state: "queued", runAfter: { lte: now } },
    orderBy: { runAfter: "asc" },
    select: { runAfter: true },
  });
  return row?.runAfter ?? null;
}

/** Running operations whose lease expired (their worker stopped responding), by kind. */
export async function stuckOperationCount(db: Db, now: Date): Promise<{ kind: string; count: number }[]> {
  const groups = await db.operation.groupBy({
    by: ["kind"],
    where: { state: "running", leaseExpiresAt: { lt: now } },
    _count: { _all: true },
  });
  return groups.map((g) => ({ kind: g.kind, count: g._count._all }));
}
