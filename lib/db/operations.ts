// Durable operations and their leases. Claiming is two conditional updates, portable across SQLite
// and PostgreSQL and safe across processes: first the sandbox's lock (so at most one operation runs
// per sandbox), then the operation itself (so exactly one worker runs it). A worker that loses its
// lease (it stalled past the expiry and someone reclaimed) finds its conditional writes refused.
import "server-only";

import { randomUUID } from "node:crypto";

import type { OperationKind, OperationState } from "../manager/states";
import type { Db, Prisma } from "./client";

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

/** Queued operations that may run now, oldest first. */
export async function findClaimable(db: Db, now: Date, limit: number): Promise<OperationRow[]> {
  return db.operation.findMany({
    where: { state: "queued", runAfter: { lte: now } },
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
): Promise<OperationRow | null> {
  const leaseExpiresAt = new Date(now.getTime() + leaseMs);
  if (op.sandboxId) {
    const locked = await db.sandbox.updateMany({
      where: {
        id: op.sandboxId,
        OR: [{ lockOperationId: null }, { lockExpiresAt: { lt: now } }, { lockOperationId: op.id }],
      },
      data: { lockOperationId: op.id, lockExpiresAt: leaseExpiresAt },
    });
    if (locked.count === 0) return null;
  }
  const claimed = await db.operation.updateMany({
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
  // Lost the race for the operation: the winner holds the sandbox lock under the same operation id,
  // so it is left as it is.
  if (claimed.count === 0) return null;
  return db.operation.findUnique({ where: { id: op.id } });
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

/**
 * Ends an operation held by `owner` and releases its sandbox lock, in one transaction. `then` runs
 * inside it only if the operation was still ours (the sandbox's new state, events): a worker that
 * lost its lease writes nothing.
 */
export async function finishOperation(
  db: Db,
  op: OperationRow,
  owner: string,
  result: { state: Extract<OperationState, "succeeded" | "failed" | "cancelled">; errorCode?: string; error?: string },
  then?: (tx: Prisma.TransactionClient) => Promise<void>,
): Promise<boolean> {
  const now = new Date();
  return db.$transaction(async (tx) => {
    const r = await tx.operation.updateMany({
      where: { id: op.id, leaseOwner: owner, state: "running" },
      data: {
        state: result.state,
        errorCode: result.errorCode ?? null,
        error: result.error ?? null,
        finishedAt: now,
        leaseExpiresAt: null,
      },
    });
    if (r.count !== 1) return false;
    if (then) await then(tx);
    if (op.sandboxId) {
      await tx.sandbox.updateMany({
        where: { id: op.sandboxId, lockOperationId: op.id },
        data: { lockOperationId: null, lockExpiresAt: null },
      });
    }
    return true;
  });
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
