// The worker: claims queued operations under a lease, heartbeats while it runs them, and records the
// result. Runs inside the Next.js server (instrumentation.ts) unless SANDBOXER_WORKER=off, or alone
// (`npm run worker`); any number of workers may share one database.
import "server-only";

import { randomUUID } from "node:crypto";
import os from "node:os";

import { SYSTEM_ACTOR } from "../auth/actor";
import { DbNull } from "../db/client";
import { formatDuration } from "../duration";
import { eventCreate } from "../db/events";
import { acquireLease, removeWorker, workerHeartbeat } from "../db/leases";
import {
  claimOperation,
  findClaimable,
  finishOperation,
  heartbeat,
  isCancelRequested,
  requeueOperation,
  type OperationRow,
} from "../db/operations";
import { transitionWithEvent } from "../db/sandboxes";
import { AbortedError, SandboxerError, TimeoutError, hasCode, isSandboxerError } from "../errors";
import type { AnyExtension } from "../extensions/catalog";
import type { Logger } from "../logger";
import { metrics } from "../metrics";
import { pickHost } from "./host-picker";
import { runCleanup, runReconcile } from "./host-ops";
import { expireSandboxes, repairOrphanedStates, scheduleHostChecks } from "./maintenance";
import { reapExpiredOperations } from "./reaper";
import { LogWriter } from "./log-writer";
import { CancelledByDestroy, type Manager } from "./manager";
import type { SandboxStatus } from "./states";

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

export interface WorkerOptions {
  id?: string;
  concurrency?: number;
}

export class Worker {
  readonly id: string;
  private readonly concurrency: number;
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly shutdown = new AbortController();
  private running = false;
  private wake: (() => void) | null = null;
  /** Work was queued while a tick ran: the next wait returns at once instead of sleeping a poll. */
  private queuedSinceTick = false;
  private loopDone: Promise<void> | null = null;
  private unsubscribe: (() => void) | null = null;
  private lastWorkerHeartbeat = 0;
  private lastMaintenance = 0;
  private readonly log: Logger;
  /** How each running operation ended (for the duration metric), as recorded by finish(). */
  private readonly outcomes = new Map<string, string>();

  constructor(
    private readonly m: Manager,
    opts: WorkerOptions = {},
  ) {
    this.id = opts.id ?? `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.concurrency = opts.concurrency ?? m.config.concurrency;
    this.log = m.logger.child({ worker: this.id });
  }

  /** Starts the claim loop. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = this.m.notifier.onOperationQueued(() => {
      this.queuedSinceTick = true;
      this.wake?.();
    });
    this.loopDone = this.loop();
    this.log.info({ concurrency: this.concurrency }, "worker started");
  }

  /** Stops claiming, asks running operations to stop, waits for them (bounded), and deregisters. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.unsubscribe?.();
    this.wake?.();
    await this.loopDone;
    const all = Promise.allSettled([...this.inflight.values()]);
    const timer = setTimeout(() => this.shutdown.abort(new WorkerShutdown()), graceMs);
    await all;
    clearTimeout(timer);
    await removeWorker(this.m.db, this.id).catch(() => {});
    this.log.info("worker stopped");
  }

  private async loop(): Promise<void> {
    while (this.running) {
      try {
        await this.tick();
      } catch (e) {
        this.log.error({ err: e }, "worker tick failed");
      }
      if (!this.running) break;
      await new Promise<void>((resolve) => {
        if (this.queuedSinceTick) return resolve();
        const timer = setTimeout(resolve, this.m.config.pollMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  /** Claims what it can and starts it. Returns how many operations it started. */
  async tick(): Promise<number> {
    this.queuedSinceTick = false;
    const now = new Date();
    if (now.getTime() - this.lastWorkerHeartbeat > this.m.config.heartbeatMs) {
      this.lastWorkerHeartbeat = now.getTime();
      await workerHeartbeat(this.m.db, { id: this.id, hostname: os.hostname(), pid: process.pid }, now);
    }
    if (await acquireLease(this.m.db, "reaper", this.id, this.m.config.leaseMs)) {
      await reapExpiredOperations(this.m, now);
    }
    if (now.getTime() - this.lastMaintenance >= this.m.config.maintenanceMs) {
      this.lastMaintenance = now.getTime();
      if (await acquireLease(this.m.db, "maintenance", this.id, Math.max(this.m.config.leaseMs, this.m.config.maintenanceMs * 2))) {
        await expireSandboxes(this.m, now);
        await repairOrphanedStates(this.m, now, Math.max(60_000, this.m.config.leaseMs * 2));
        await scheduleHostChecks(this.m, now);
      }
    }
    const free = this.concurrency - this.inflight.size;
    if (free <= 0) return 0;
    const candidates = await findClaimable(this.m.db, now, free * 2);
    let started = 0;
    for (const candidate of candidates) {
      if (started >= free) break;
      if (this.inflight.has(candidate.id)) continue;
      const op = await claimOperation(this.m.db, candidate, this.id, new Date(), this.m.config.leaseMs);
      if (!op) continue;
      started++;
      const p = this.execute(op).finally(() => {
        this.inflight.delete(op.id);
        // A slot is free: look for more work now rather than after a poll interval.
        this.queuedSinceTick = true;
        this.wake?.();
      });
      this.inflight.set(op.id, p);
    }
    return started;
  }

  /** For tests and scripts: runs until nothing is claimable and nothing is in flight. */
  async runUntilIdle(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const started = await this.tick();
      if (this.inflight.size > 0) await Promise.race([...this.inflight.values()]);
      else if (started === 0) {
        const pending = await findClaimable(this.m.db, new Date(), 1);
        if (pending.length === 0) return;
        await new Promise((r) => setTimeout(r, 25));
      }
      if (Date.now() > deadline) throw new Error("worker did not become idle in time");
    }
  }

  private async execute(op: OperationRow): Promise<void> {
    const started = Date.now();
    const controller = new AbortController();
    const key = `${op.sandboxId ?? "-"}:${op.id}`;
    this.m.runningOperations.set(key, controller);
    const onShutdown = () => controller.abort(this.shutdown.signal.reason);
    this.shutdown.signal.addEventListener("abort", onShutdown);
    const log = this.log.child({ op: op.id, kind: op.kind, sandboxId: op.sandboxId, attempt: op.attempt });
    const hb = setInterval(() => {
      heartbeat(this.m.db, op, this.id, new Date(), this.m.config.leaseMs)
        .then((held) => {
          if (!held) controller.abort(new LeaseLost());
        })
        .catch((e: unknown) => log.warn({ err: e }, "heartbeat failed"));
    }, this.m.config.heartbeatMs);
    const cancelPoll =
      op.kind === "create"
        ? setInterval(() => {
            isCancelRequested(this.m.db, op.id)
              .then((cancel) => {
                if (cancel) controller.abort(new CancelledByDestroy());
              })
              .catch(() => {});
          }, this.m.config.cancelPollMs)
        : null;
    try {
      if (op.kind === "create") await this.runCreate(op, controller.signal, log);
      else if (op.kind === "destroy") await this.runDestroy(op, controller.signal, log);
      else if (op.kind === "reconcile" || op.kind === "cleanup") await this.runHostOperation(op, controller.signal, log);
      else await this.finish(op, { state: "failed", error: `unknown operation kind ${op.kind}` });
    } catch (e) {
      log.error({ err: e }, "operation crashed");
      await this.finish(op, { state: "failed", errorCode: "INTERNAL", error: operationMessage(e) }).catch(() => {});
    } finally {
      clearInterval(hb);
      if (cancelPoll) clearInterval(cancelPoll);
      metrics(() => this.m).operationDuration.observe(
        { kind: op.kind, result: this.outcomes.get(op.id) ?? "unknown" },
        (Date.now() - started) / 1000,
      );
      this.outcomes.delete(op.id);
      this.shutdown.signal.removeEventListener("abort", onShutdown);
      this.m.runningOperations.delete(key);
      if (op.sandboxId) this.m.notifier.sandboxChanged(op.sandboxId);
    }
  }

  /** Ends the operation (see finishOperation) and remembers how, for the metrics. */
  private async finish(op: OperationRow, ...rest: FinishArgs): Promise<boolean> {
    const done = await finishOperation(this.m.db, op, this.id, ...rest);
    if (done) this.outcomes.set(op.id, rest[0].state);
    return done;
  }

  /**
   * Moves the sandbox (if it is still in `from` and locked by `op`) and records the state event in the
   * same transaction: a reader never sees a status without the event that explains it.
   */
  private async move(
    op: OperationRow,
    from: readonly SandboxStatus[],
    to: SandboxStatus,
    data: Parameters<typeof transitionWithEvent>[4],
    message: string,
    level: "info" | "error" = "info",
  ): Promise<boolean> {
    const sandboxId = op.sandboxId!;
    const moved = await this.m.db.$transaction((tx) => transitionWithEvent(tx, sandboxId, from, to, data, { message, level }, op.id));
    if (moved) this.m.notifier.sandboxChanged(sandboxId);
    return moved;
  }

  // ─── create ────────────────────────────────────────────────────────────────────────────────────

  private async runCreate(op: OperationRow, signal: AbortSignal, log: Logger): Promise<void> {
    const m = this.m;
    const sandboxId = op.sandboxId!;
    const sandbox = await m.db.sandbox.findUnique({ where: { id: sandboxId } });
    if (!sandbox || (sandbox.status !== "queued" && sandbox.status !== "creating")) {
      await this.finish(op, { state: "cancelled", error: `Sandbox is ${sandbox?.status ?? "gone"}` });
      return;
    }
    const writer = new LogWriter(m.db, sandboxId, log, m.notifier);
    const ext = m.extension(sandbox.extensionId);
    if (!ext) {
      await this.failCreate(
        op,
        sandbox.status as SandboxStatus,
        `Extension ${sandbox.extensionId} is not loaded on this server (check its manifest)`,
        writer,
      );
      return;
    }
    const params = ext.paramsSchema.safeParse(sandbox.params);
    if (!params.success) {
      await this.failCreate(
        op,
        sandbox.status as SandboxStatus,
        `Stored params no longer match ${ext.id}'s schema: ${params.error.issues[0]?.message}`,
        writer,
      );
      return;
    }

    // Past the attempt limit (workers kept dying): clean up what exists and fail with the reason.
    if (op.attempt > op.maxAttempts) {
      const cleanup = sandbox.handle ? await this.cleanUp(ext, sandbox.handle, sandboxId, signal, writer) : null;
      await this.failCreate(
        op,
        sandbox.status as SandboxStatus,
        `Gave up after ${op.maxAttempts} attempts: the worker running the create stopped responding each time${cleanupNote(cleanup)}`,
        writer,
        "ATTEMPTS_EXHAUSTED",
      );
      return;
    }

    // A retry after a worker died: remove what the previous attempt left, then start from scratch.
    if (sandbox.status === "creating" && sandbox.handle) {
      writer.log(`Attempt ${op.attempt}: cleaning up what the previous attempt left`, "warn");
      const cleanup = await this.cleanUp(ext, sandbox.handle, sandboxId, signal, writer);
      if (cleanup) {
        await this.failCreate(op, "creating", `Could not clean up the previous attempt: ${cleanup}`, writer);
        return;
      }
      await m.db.sandbox.updateMany({ where: { id: sandboxId, lockOperationId: op.id }, data: { handle: DbNull } });
    }

    let host = null;
    const requirement = ext.hostRequirement(params.data);
    if (requirement) {
      const picked = await pickHost(m.db, sandboxId, op.id, requirement, sandbox.status === "creating" ? sandbox.hostId : null);
      if (picked.kind === "none") {
        await this.failCreate(op, sandbox.status as SandboxStatus, picked.reason, writer);
        return;
      }
      if (picked.kind === "wait") {
        const waited = Date.now() - sandbox.createdAt.getTime();
        if (waited > m.config.queueTimeoutMs) {
          await this.failCreate(
            op,
            sandbox.status as SandboxStatus,
            `${picked.reason.replace(/^Waiting for (a host|capacity): /, "")} — gave up after ${formatDuration(waited)} in the queue (SANDBOXER_QUEUE_TIMEOUT)`,
            writer,
            "QUEUE_TIMEOUT",
          );
          return;
        }
        if (sandbox.statusReason !== picked.reason) {
          await m.db.sandbox.updateMany({ where: { id: sandboxId, status: "queued" }, data: { statusReason: picked.reason } });
          writer.log(picked.reason, "warn");
        }
        await writer.flush();
        await requeueOperation(m.db, op, this.id, new Date(Date.now() + m.config.capacityRetryMs));
        return;
      }
      host = picked.host;
    }

    if (sandbox.status === "queued") {
      const moved = await this.move(
        op,
        ["queued"],
        "creating",
        { statusReason: null },
        host ? `Creating on ${host.title} (${host.address}:${host.port})` : "Creating",
      );
      if (!moved) {
        await this.finish(op, { state: "cancelled", error: "Sandbox left the queue (destroy requested)" });
        return;
      }
    }

    // Null here: a queued sandbox has no handle yet, and a retry just removed its predecessor's.
    let lastHandle: unknown = null;
    const recordHandle = async (handle: { extension: string }) => {
      const parsed = ext.handleSchema.parse(handle);
      const r = await m.db.sandbox.updateMany({
        where: { id: sandboxId, lockOperationId: op.id },
        data: { handle: parsed as object },
      });
      if (r.count === 0) throw new LeaseLost();
      lastHandle = parsed;
    };

    const started = Date.now();
    try {
      const handle = await this.withTimeout(signal, m.config.createTimeoutMs, "create", (s) =>
        ext.create({ sandboxId, params: params.data, host, signal: s, log: writer.log, recordHandle }),
      );
      const parsed = ext.handleSchema.parse(handle);
      writer.log(`Ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      await writer.flush();
      await m.db.sandbox.updateMany({ where: { id: sandboxId, lockOperationId: op.id }, data: { handle: parsed as object } });
      const ready = await this.move(op, ["creating"], "ready", { readyAt: new Date(), statusReason: null }, "Ready");
      await this.finish(op, { state: ready ? "succeeded" : "cancelled", error: ready ? undefined : "Destroy requested during create" });
      log.info({ ms: Date.now() - started }, ready ? "sandbox ready" : "create finished after destroy was requested");
    } catch (e) {
      const reason: unknown = signal.aborted ? signal.reason : e;
      if (hasCode(reason, "LEASE_LOST")) {
        log.warn("lease lost during create; leaving the operation to its new owner");
        return;
      }
      if (hasCode(reason, "CANCELLED_BY_DESTROY")) {
        writer.log("Create cancelled: a destroy was requested", "warn");
        await writer.flush();
        await this.finish(op, { state: "cancelled", error: "Cancelled by destroy" });
        return;
      }
      if (hasCode(reason, "WORKER_SHUTDOWN")) {
        writer.log("Worker shutting down; another worker will retry this create", "warn");
        await writer.flush();
        await requeueOperation(m.db, op, this.id, new Date());
        return;
      }
      const message = operationMessage(e);
      writer.log(`Create failed: ${message}`, "error");
      if (!isSandboxerError(e)) log.error({ err: e }, "create failed with an unexpected error");
      let cleanup: string | null = null;
      if (lastHandle) {
        writer.log("Cleaning up what was created");
        // The create's own signal is aborted (or timed out) here: the cleanup only stops for shutdown.
        cleanup = await this.cleanUp(ext, lastHandle, sandboxId, this.shutdown.signal, writer);
      }
      await this.failCreate(op, "creating", `${message}${cleanupNote(cleanup, " too")}`, writer, isSandboxerError(e) ? e.code : "INTERNAL");
    }
  }

  /**
   * Destroys what a recorded handle names (bounded by the destroy timeout), logging the outcome.
   * Returns null on success, or the reason it failed.
   */
  private async cleanUp(
    ext: AnyExtension,
    handle: unknown,
    sandboxId: string,
    signal: AbortSignal,
    writer: LogWriter,
  ): Promise<string | null> {
    try {
      const res = await this.withTimeout(signal, this.m.config.destroyTimeoutMs, "cleanup", (s) =>
        ext.destroy(ext.handleSchema.parse(handle), { sandboxId, signal: s, log: writer.log }),
      );
      writer.log(res.detail);
      return null;
    } catch (e) {
      const reason = operationMessage(e);
      writer.log(`Cleanup failed: ${reason}`, "error");
      return reason;
    }
  }

  private async failCreate(
    op: OperationRow,
    from: SandboxStatus,
    reason: string,
    writer: LogWriter,
    code = "CREATE_FAILED",
  ): Promise<void> {
    const m = this.m;
    const sandboxId = op.sandboxId!;
    await writer.flush();
    const moved = await this.move(op, [from], "failed", { statusReason: reason }, `Failed: ${reason}`, "error");
    if (moved) {
      await m.audit(SYSTEM_ACTOR, "sandbox.create", sandboxId, "failed", `Create of ${sandboxId} failed: ${reason}`);
    }
    await this.finish(op, { state: "failed", errorCode: code, error: reason });
  }

  // ─── host operations ───────────────────────────────────────────────────────────────────────────

  private async runHostOperation(op: OperationRow, signal: AbortSignal, log: Logger): Promise<void> {
    const started = Date.now();
    try {
      const outcome = await this.withTimeout(signal, this.m.config.destroyTimeoutMs, op.kind, (s) =>
        op.kind === "reconcile" ? runReconcile(this.m, op, s) : runCleanup(this.m, op, s),
      );
      log.info({ host: op.hostId, ms: Date.now() - started, outcome }, `${op.kind} done`);
      await this.finish(op, { state: "succeeded", error: outcome });
    } catch (e) {
      const reason: unknown = signal.aborted ? signal.reason : e;
      if (hasCode(reason, "LEASE_LOST")) return;
      const message = operationMessage(e);
      log.warn({ host: op.hostId, err: e }, `${op.kind} failed`);
      if (op.kind === "cleanup") {
        await this.m.db.event.create(
          eventCreate({
            type: "audit",
            action: "host.cleanup",
            target: op.hostId,
            result: "failed",
            message: `Clean-up on ${op.hostId} failed: ${message}`,
            actorId: op.actorId,
          }),
        );
      }
      await this.finish(op, { state: "failed", errorCode: isSandboxerError(e) ? e.code : "INTERNAL", error: message });
    }
  }

  // ─── destroy ───────────────────────────────────────────────────────────────────────────────────

  private async runDestroy(op: OperationRow, signal: AbortSignal, log: Logger): Promise<void> {
    const m = this.m;
    const sandboxId = op.sandboxId!;
    const sandbox = await m.db.sandbox.findUnique({ where: { id: sandboxId } });
    if (!sandbox || sandbox.status === "destroyed") {
      await this.finish(op, { state: "succeeded" });
      return;
    }
    if (sandbox.status !== "destroying") {
      await this.finish(op, { state: "cancelled", error: `Sandbox is ${sandbox.status}, not destroying` });
      return;
    }
    const writer = new LogWriter(m.db, sandboxId, log, m.notifier);
    const actor = op.actorId ? await m.db.user.findUnique({ where: { id: op.actorId }, select: { email: true } }) : null;
    const actorLabel = actor?.email ?? "system";
    const ext = m.extension(sandbox.extensionId);
    const fail = async (reason: string, code: string) => {
      writer.log(`Destroy failed: ${reason}`, "error");
      await writer.flush();
      await this.move(op, ["destroying"], "destroy_failed", { statusReason: reason }, `Destroy failed: ${reason}`, "error");
      await m.db.event.create(
        eventCreate({
          type: "audit",
          action: "sandbox.teardown",
          target: sandboxId,
          result: "failed",
          message: `Teardown of ${sandboxId} failed: ${reason}`,
          actorId: op.actorId,
          actorLabel,
        }),
      );
      await this.finish(op, { state: "failed", errorCode: code, error: reason });
    };
    if (!ext) {
      await fail(`Extension ${sandbox.extensionId} is not loaded on this server`, "EXTENSION_MISSING");
      return;
    }
    if (op.attempt > op.maxAttempts) {
      await fail(
        `Gave up after ${op.maxAttempts} attempts: the worker running the destroy stopped responding each time; Retry when the cause is fixed`,
        "ATTEMPTS_EXHAUSTED",
      );
      return;
    }
    let detail = "Nothing to remove: create never recorded a handle";
    let teardown: string[] = [];
    if (sandbox.handle) {
      const handle = ext.handleSchema.safeParse(sandbox.handle);
      if (!handle.success) {
        await fail(`The stored handle is not valid for ${ext.id}: ${handle.error.issues[0]?.message}`, "HANDLE_INVALID");
        return;
      }
      teardown = ext.describeHandle(handle.data).teardown;
      writer.log(`Removing ${teardown.join("; ")}`);
      try {
        const res = await this.withTimeout(signal, m.config.destroyTimeoutMs, "destroy", (s) =>
          ext.destroy(handle.data, { sandboxId, signal: s, log: writer.log }),
        );
        detail = res.detail;
      } catch (e) {
        const reason: unknown = signal.aborted ? signal.reason : e;
        if (hasCode(reason, "LEASE_LOST")) return;
        if (hasCode(reason, "WORKER_SHUTDOWN")) {
          await requeueOperation(m.db, op, this.id, new Date());
          return;
        }
        if (!isSandboxerError(e)) log.error({ err: e }, "destroy failed with an unexpected error");
        await fail(operationMessage(e), isSandboxerError(e) ? e.code : "INTERNAL");
        return;
      }
    }
    writer.log(detail);
    await writer.flush();
    const done = await this.finish(op, { state: "succeeded" }, async (tx) => {
      if (
        !(await transitionWithEvent(
          tx,
          sandboxId,
          ["destroying"],
          "destroyed",
          { destroyedAt: new Date(), statusReason: detail },
          { message: "Destroyed" },
          op.id,
        ))
      )
        return;
      await tx.event.create(
        eventCreate({
          type: "audit",
          action: "sandbox.teardown",
          target: sandboxId,
          result: "ok",
          message: `Teardown of ${sandboxId}: ${detail}`,
          actorId: op.actorId,
          actorLabel,
          data: { teardown },
        }),
      );
    });
    if (!done) log.warn("destroy finished but the lease was lost; the new owner records the result");
    else log.info({ detail }, "sandbox destroyed");
  }

  /** Runs fn with a signal that aborts on the parent's abort or after `ms` (TimeoutError naming `what`). */
  private async withTimeout<T>(parent: AbortSignal, ms: number, what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
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
        work.then(resolve, reject);
        controller.signal.addEventListener(
          "abort",
          () => {
            // Give the extension a bounded time to stop, so cleanup does not run beside a create that is
            // still writing; one that ignores its signal cannot hold the operation past the grace.
            const grace = setTimeout(() => {
              this.log.warn({ what }, `the ${what} step did not stop within ${SETTLE_GRACE_MS} ms of being cancelled`);
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
}

type FinishArgs = Parameters<typeof finishOperation> extends [unknown, unknown, unknown, ...infer R] ? R : never;

/** How long a cancelled extension step may take to stop before the worker moves on regardless. */
const SETTLE_GRACE_MS = 15_000;

/** The tail of a failure reason when the cleanup after it failed as well. */
function cleanupNote(cleanupFailure: string | null, also = ""): string {
  return cleanupFailure ? `; cleanup failed${also}: ${cleanupFailure} (destroy the sandbox to retry)` : "";
}

/**
 * The reason a person reads on a failed sandbox. Ours carry a message written for people; an
 * unexpected error from an extension (ENOSPC, EACCES…) keeps its own message, which is more useful to
 * the team running the server than "internal error" (request responses still hide internals).
 */
function operationMessage(e: unknown): string {
  if (isSandboxerError(e)) return e.message;
  return `Unexpected error: ${e instanceof Error ? e.message : String(e)}`;
}

function toError(reason: unknown): Error {
  if (reason instanceof Error) return reason;
  return new AbortedError(typeof reason === "string" ? reason : undefined);
}
