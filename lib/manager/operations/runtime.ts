// The operation runtime: what every claimed operation gets, whatever its kind. It heartbeats the
// lease (and aborts the work when the lease is lost), polls for a cancel request from other processes,
// bounds each step with a timeout and a grace for the step to stop, classifies why work was aborted
// in one place, and ends the operation exactly once — through the transition function when the
// sandbox moves with it. Handlers (./create.ts, ./destroy.ts, …) hold only their kind's flow.
import "server-only";

import {
  finishOperation,
  heartbeat,
  isCancelRequested,
  requeueOperation,
  type OperationResult,
  type OperationRow,
} from "../../db/operations";
import { AbortedError, SandboxerError, TimeoutError, hasCode, isSandboxerError } from "../../errors";
import type { Logger } from "../../logger";
import type { ManagerContext } from "../context";
import type { OperationKind, OperationOutcome } from "../states";
import { transition, type TransitionOutcome, type TransitionRequest } from "../transitions";

/** The abort reason when this worker no longer holds the operation's lease. */
export class LeaseLost extends SandboxerError {
  constructor() {
    super("LEASE_LOST", "Lease lost: another worker took over this operation", { name: "LeaseLost" });
  }
}

/** The abort reason when the process is shutting down. */
export class WorkerShutdown extends SandboxerError {
  constructor() {
    super("WORKER_SHUTDOWN", "The worker is shutting down", { name: "WorkerShutdown" });
  }
}

/** The abort reason when a destroy stops a running create. */
export class CancelledByDestroy extends SandboxerError {
  constructor() {
    super("CANCELLED_BY_DESTROY", "Cancelled: a destroy was requested", { name: "CancelledByDestroy" });
  }
}

/**
 * Why a step stopped, read from its signal (the reason wins over the error it threw):
 * - `lease-lost`: another worker owns the operation now; write nothing more;
 * - `cancelled`: a destroy asked a create to stop;
 * - `shutdown`: this process is stopping; hand the operation back;
 * - `failed`: anything else, including a timeout — the error is the failure.
 */
export type StopKind = "lease-lost" | "cancelled" | "shutdown" | "failed";

export function stopKind(signal: AbortSignal, error: unknown): StopKind {
  const reason: unknown = signal.aborted ? signal.reason : error;
  if (hasCode(reason, "LEASE_LOST")) return "lease-lost";
  if (hasCode(reason, "CANCELLED_BY_DESTROY")) return "cancelled";
  if (hasCode(reason, "WORKER_SHUTDOWN")) return "shutdown";
  return "failed";
}

/**
 * The reason a person reads on a failed sandbox. Ours carry a message written for people; an
 * unexpected error from an extension (ENOSPC, EACCES…) keeps its own message, which is more useful to
 * the team running the server than "internal error" (request responses still hide internals).
 */
export function failureMessage(e: unknown): string {
  if (isSandboxerError(e)) return e.message;
  return `Unexpected error: ${e instanceof Error ? e.message : String(e)}`;
}

/** The code recorded with a failure: ours, or INTERNAL for anything unexpected. */
export function failureCode(e: unknown): string {
  return isSandboxerError(e) ? e.code : "INTERNAL";
}

/** How long a cancelled extension step may take to stop before the operation moves on regardless. */
export const SETTLE_GRACE_MS = 15_000;

/** What a handler gets for one claimed operation. */
export interface OperationRun {
  readonly op: OperationRow;
  /** The worker holding the lease. */
  readonly owner: string;
  /** Aborted when the lease is lost, a destroy cancels (creates), or the process shuts down. */
  readonly signal: AbortSignal;
  /** Aborted only when the process shuts down (clean-up after a failed create must not stop for the failure). */
  readonly shutdownSignal: AbortSignal;
  readonly log: Logger;
  /** Runs `fn` with a signal that also aborts after `ms` (TimeoutError naming `what`), giving it SETTLE_GRACE_MS to stop. */
  withTimeout<T>(ms: number, what: string, fn: (signal: AbortSignal) => Promise<T>, parent?: AbortSignal): Promise<T>;
  /** Moves the sandbox and ends the operation in one transaction (nothing is written if the lease was lost). */
  end(
    move: Omit<TransitionRequest, "finish" | "lockedBy">,
    result: OperationResult | ((moved: boolean) => OperationResult),
  ): Promise<TransitionOutcome>;
  /** Moves the sandbox while the operation keeps running (it must hold the sandbox's lock). */
  move(move: Omit<TransitionRequest, "finish" | "lockedBy">): Promise<boolean>;
  /** Ends the operation without moving a sandbox. */
  finish(result: OperationResult): Promise<boolean>;
  /** Hands the operation back to the queue without counting an attempt. */
  requeue(runAfter: Date): Promise<void>;
}

export type OperationHandler = (ctx: ManagerContext, run: OperationRun) => Promise<void>;

/** Kinds a destroy can cancel while they run (the runtime polls for the request from other processes). */
const CANCELLABLE: readonly OperationKind[] = ["create", "image_build"];
/** A poll tick a little early still counts as due (timers fire late or early by a few ms). */
const CANCEL_POLL_SLACK_MS = 50;

/**
 * Runs one claimed operation with its handler. Returns how it ended ("succeeded", "failed",
 * "cancelled", or "requeued"/"lost" when it did not end here), for the duration metric.
 */
export async function runOperation(
  ctx: ManagerContext,
  op: OperationRow,
  kind: OperationKind,
  handler: OperationHandler,
  worker: { id: string; shutdown: AbortSignal; log: Logger },
): Promise<OperationOutcome | "requeued" | "lost"> {
  const controller = new AbortController();
  const key = `${op.sandboxId ?? "-"}:${op.id}`;
  ctx.runningOperations.set(key, controller);
  // The worker's shutdown signal is shared by every operation in flight (up to its concurrency): each
  // gets a child signal, so the shared one carries one listener however many run (no
  // MaxListenersExceededWarning at 11 operations) and nothing is left on it after they end.
  const shutdown = childSignal(worker.shutdown);
  const onShutdown = () => controller.abort(shutdown.signal.reason);
  shutdown.signal.addEventListener("abort", onShutdown, { once: true });
  const log = worker.log.child({ op: op.id, kind, sandboxId: op.sandboxId, attempt: op.attempt });
  let outcome: OperationOutcome | "requeued" | "lost" = "lost";
  const ended = (result: OperationOutcome | "requeued") => (outcome = result);

  const hb = setInterval(() => {
    heartbeat(ctx.db, op, worker.id, new Date(), ctx.config.leaseMs)
      .then((held) => {
        if (!held) controller.abort(new LeaseLost());
      })
      .catch((e: unknown) => log.warn({ err: e }, "heartbeat failed"));
  }, ctx.config.heartbeatMs);
  // A destroy in this process aborts the controller itself (runningOperations); one in another process
  // sets the operation's flag, which PostgreSQL's wake-up brings at commit (cancelRequested) and the
  // poll finds otherwise — every cancelPollMs, or only every cancelPollWithWakeMs while wake-ups arrive.
  const cancellable = CANCELLABLE.includes(kind);
  const offCancel = cancellable ? ctx.notifier.onCancelRequested(op.id, () => controller.abort(new CancelledByDestroy())) : null;
  let lastCancelCheck = Date.now();
  const cancelPoll = cancellable
    ? setInterval(() => {
        const now = Date.now();
        const every = ctx.notifier.fallbackPollMs(ctx.config.cancelPollMs, ctx.config.cancelPollWithWakeMs);
        if (now - lastCancelCheck < every - CANCEL_POLL_SLACK_MS) return;
        lastCancelCheck = now;
        isCancelRequested(ctx.db, op.id)
          .then((cancel) => {
            if (cancel) controller.abort(new CancelledByDestroy());
          })
          .catch(() => {});
      }, ctx.config.cancelPollMs)
    : null;

  const run: OperationRun = {
    op,
    owner: worker.id,
    signal: controller.signal,
    shutdownSignal: shutdown.signal,
    log,
    withTimeout: (ms, what, fn, parent = controller.signal) => withTimeout(parent, ms, what, fn, log),
    async end(move, result) {
      const r = await transition(ctx, { ...move, lockedBy: op.id, finish: { op, owner: worker.id, result } });
      if (r.finished) ended((typeof result === "function" ? result(r.moved) : result).state);
      return r;
    },
    async move(move) {
      return (await transition(ctx, { ...move, lockedBy: op.id })).moved;
    },
    async finish(result) {
      const done = await finishOperation(ctx.db, op, worker.id, result);
      if (done) ended(result.state);
      return done;
    },
    async requeue(runAfter) {
      await requeueOperation(ctx.db, op, worker.id, runAfter);
      ended("requeued");
    },
  };

  try {
    await handler(ctx, run);
  } catch (e) {
    log.error({ err: e }, "operation crashed");
    await run.finish({ state: "failed", errorCode: "INTERNAL", error: failureMessage(e) }).catch(() => {});
  } finally {
    clearInterval(hb);
    if (cancelPoll) clearInterval(cancelPoll);
    offCancel?.();
    shutdown.signal.removeEventListener("abort", onShutdown);
    shutdown.dispose();
    ctx.runningOperations.delete(key);
    if (op.sandboxId) ctx.notifier.sandboxChanged(op.sandboxId);
  }
  return outcome;
}

const children = new WeakMap<AbortSignal, Set<AbortController>>();

/**
 * A signal aborted (with the same reason) when `parent` is. However many children are alive, `parent`
 * carries one listener; dispose() forgets the child (call it when its work ends).
 */
export function childSignal(parent: AbortSignal): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  if (parent.aborted) {
    controller.abort(parent.reason);
    return { signal: controller.signal, dispose: () => {} };
  }
  let set = children.get(parent);
  if (!set) {
    const live = new Set<AbortController>();
    set = live;
    children.set(parent, live);
    parent.addEventListener(
      "abort",
      () => {
        for (const c of [...live]) c.abort(parent.reason);
        live.clear();
      },
      { once: true },
    );
  }
  set.add(controller);
  const own = set;
  return { signal: controller.signal, dispose: () => void own.delete(controller) };
}

/** Runs fn with a signal that aborts on the parent's abort or after `ms` (TimeoutError naming `what`). */
async function withTimeout<T>(
  parent: AbortSignal,
  ms: number,
  what: string,
  fn: (signal: AbortSignal) => Promise<T>,
  log: Logger,
): Promise<T> {
  const controller = new AbortController();
  const onAbort = () => controller.abort(parent.reason);
  if (parent.aborted) controller.abort(parent.reason);
  else parent.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(
    () => controller.abort(new TimeoutError(`The ${what} step did not finish within ${Math.round(ms / 1000)} s and was stopped`)),
    ms,
  );
  try {
    const work = fn(controller.signal);
    return await new Promise<T>((resolve, reject) => {
      // Stopped by its timeout (or its parent), the step's own error is the stop's echo ("`sh` on … was
      // cancelled", from an SSH command): the reason it was stopped is what people read.
      work.then(resolve, (e: unknown) => reject(controller.signal.aborted ? toError(controller.signal.reason) : e));
      controller.signal.addEventListener(
        "abort",
        () => {
          // Give the extension a bounded time to stop, so cleanup does not run beside a create that is
          // still writing; one that ignores its signal cannot hold the operation past the grace.
          const grace = setTimeout(() => {
            log.warn({ what }, `the ${what} step did not stop within ${SETTLE_GRACE_MS} ms of being cancelled`);
            reject(toError(controller.signal.reason));
          }, SETTLE_GRACE_MS);
          work.then(
            () => (clearTimeout(grace), reject(toError(controller.signal.reason))),
            () => (clearTimeout(grace), reject(toError(controller.signal.reason))),
          );
        },
        { once: true },
      );
    });
  } finally {
    clearTimeout(timer);
    parent.removeEventListener("abort", onAbort);
  }
}

function toError(reason: unknown): Error {
  if (reason instanceof Error) return reason;
  return new AbortedError(typeof reason === "string" ? reason : undefined);
}
