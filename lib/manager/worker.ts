// The worker: claims queued operations under a lease and hands each to its kind's handler through the
// operation runtime (operations/runtime.ts); between claims it runs the singleton upkeep (reaper,
// expiry, state repair, host checks) under named leases. Runs inside the Next.js server
// (instrumentation.ts) unless SANDBOXER_WORKER=off, or alone (`npm run worker`); any number of workers
// may share one database.
import "server-only";

import { randomUUID } from "node:crypto";
import os from "node:os";

import { pruneTeamEvents } from "../db/events";
import { acquireLease, removeWorker, workerHeartbeat } from "../db/leases";
import { claimOperation, findClaimable, finishOperation, unfinishedOperations, type OperationRow } from "../db/operations";
import type { Logger } from "../logger";
import { metrics } from "../metrics";
import type { ManagerContext } from "./context";
import { expireSandboxes, removeGoneWorkers, repairOrphanedStates, scheduleHostChecks } from "./maintenance";
import type { Manager } from "./manager";
import { OPERATION_HANDLERS } from "./operations";
import { schedulePoolRefill } from "./pools";
import { WorkerShutdown, runOperation } from "./operations/runtime";
import { reapExpiredOperations, reapIntervalMs } from "./reaper";
import { isOperationKind } from "./states";

export { LeaseLost, WorkerShutdown } from "./operations/runtime";

export interface WorkerOptions {
  id?: string;
  concurrency?: number;
}

export class Worker {
  readonly id: string;
  private readonly concurrency: number;
  /**
   * What the last tick left for the poll to find: nothing (`quiet`: every claimable operation it saw was
   * started and it had room), and when the next queued one it saw becomes claimable (ms, or null).
   */
  private quiet = false;
  private nextRunAfter: number | null = null;
  private readonly inflight = new Map<string, Promise<void>>();
  /**
   * While runUntilIdle runs: operations this worker ran that did not end here (lease lost: the reaper
   * put them back). Not kept by the long-running loop, which needs no idea of "idle".
   */
  private readonly lost = new Set<string>();
  private untilIdle = 0;
  private readonly shutdown = new AbortController();
  /** Aborted when this worker stops for good (tests look at its listeners). */
  get shutdownSignal(): AbortSignal {
    return this.shutdown.signal;
  }
  private running = false;
  private wake: (() => void) | null = null;
  /** Work was queued while a tick ran: the next wait returns at once instead of sleeping a poll. */
  private queuedSinceTick = false;
  private loopDone: Promise<void> | null = null;
  private unsubscribe: (() => void) | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private lastMaintenance = 0;
  /** When this worker last ran the reaper (see tick). */
  private lastReap = 0;
  private readonly log: Logger;
  private readonly ctx: ManagerContext;

  constructor(
    private readonly m: Manager,
    opts: WorkerOptions = {},
  ) {
    this.ctx = m;
    this.id = opts.id ?? `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.concurrency = opts.concurrency ?? m.config.concurrency;
    this.log = m.logger.child({ worker: this.id });
  }

  /** Starts the claim loop. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = this.ctx.notifier.onOperationQueued(() => {
      this.queuedSinceTick = true;
      this.wake?.();
    });
    // Its own timer, not the claim loop: a long maintenance pass must not make a live worker look gone.
    this.beat();
    this.heartbeatTimer = setInterval(() => this.beat(), this.ctx.config.heartbeatMs);
    this.heartbeatTimer.unref();
    this.loopDone = this.loop();
    // How often it looks for queued work when idle, so an operator (and the start-up test) can see it:
    // the fallback poll while other processes' changes wake it (Notifier.crossProcessWake), else pollMs.
    this.log.info({ concurrency: this.concurrency, idlePollMs: this.fallbackPollMs() }, "worker started");
  }

  /** Stops claiming, asks running operations to stop, waits for them (bounded), and deregisters. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.unsubscribe?.();
    this.wake?.();
    await this.loopDone;
    const all = Promise.allSettled([...this.inflight.values()]);
    const timer = setTimeout(() => this.shutdown.abort(new WorkerShutdown()), graceMs);
    await all;
    clearTimeout(timer);
    await removeWorker(this.ctx.db, this.id).catch(() => {});
    this.log.info("worker stopped");
  }

  /** Records that this worker is alive (pages and the stuck reasons count live workers). */
  private beat(): void {
    workerHeartbeat(this.ctx.db, { id: this.id, hostname: os.hostname(), pid: process.pid, machineId: this.ctx.config.machineId }).catch(
      (e: unknown) => this.log.warn({ err: e }, "worker heartbeat failed"),
    );
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
        const timer = setTimeout(resolve, this.nextWaitMs(Date.now()));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
  }

  /**
   * How long the claim loop sleeps after a tick, unless woken. The poll finds what no wake-up announced:
   * another process's queues (while no wake-ups bring them), an operation that had to wait for its
   * sandbox's lock, one whose time came. While wake-ups announce every queued operation
   * (Notifier.crossProcessWake: PostgreSQL's, or the embedded database's watch) and the last tick left
   * nothing claimable behind, it sleeps until the reaper or the maintenance is due or the next queued
   * operation it saw becomes claimable, at most pollWithWakeMs: an idle worker ran a statement a second
   * for nothing.
   */
  nextWaitMs(now: number): number {
    const { config } = this.ctx;
    const fallback = this.fallbackPollMs();
    if (!this.quiet || fallback === config.pollMs) return config.pollMs;
    const until = Math.min(
      now + fallback,
      this.lastReap + reapIntervalMs(config),
      this.lastMaintenance + config.maintenanceMs,
      this.nextRunAfter ?? Infinity,
    );
    return Math.max(0, until - now);
  }

  /**
   * How long an idle worker may go without looking: pollWithWakeMs while wake-ups announce every queued
   * operation (the notifier's rule for every poll behind wake-ups), else pollMs.
   */
  private fallbackPollMs(): number {
    const { config, notifier } = this.ctx;
    return notifier.fallbackPollMs(config.pollMs, config.pollWithWakeMs);
  }

  /**
   * Claims what it can and starts it. Returns how many operations it started. The reaper (its lease
   * and the look for expired ones) runs at most once per sixth of a lease (once per poll interval if
   * that is longer): a busy worker ticks at every queued and finished operation, and an operation
   * whose worker died waits a whole lease before it can be reaped anyway — a sixth more is little,
   * and the reaper was two of the three statements an idle worker ran every second. `reap: "always"` for
   * runUntilIdle, whose callers expire leases and expect the next tick to see it.
   */
  async tick(opts: { reap?: "always" } = {}): Promise<number> {
    const { db, config } = this.ctx;
    this.queuedSinceTick = false;
    this.quiet = false;
    this.nextRunAfter = null;
    const now = new Date();
    if (opts.reap === "always" || now.getTime() - this.lastReap >= reapIntervalMs(config)) {
      this.lastReap = now.getTime();
      if (await acquireLease(db, "reaper", this.id, config.leaseMs)) await reapExpiredOperations(this.ctx, now);
    }
    if (now.getTime() - this.lastMaintenance >= config.maintenanceMs) {
      this.lastMaintenance = now.getTime();
      if (await acquireLease(db, "maintenance", this.id, Math.max(config.leaseMs, config.maintenanceMs * 2))) {
        await expireSandboxes(this.m, now);
        await repairOrphanedStates(this.ctx, now, Math.max(60_000, config.leaseMs * 2));
        await removeGoneWorkers(this.ctx, now);
        await scheduleHostChecks(this.ctx, now);
        await schedulePoolRefill(this.ctx);
        // Team notices matter only to streams that were away briefly (docs/live-updates.md).
        await pruneTeamEvents(db, new Date(now.getTime() - 24 * 3_600_000));
      }
    }
    const free = this.concurrency - this.inflight.size;
    if (free <= 0) return 0;
    // Also the operations whose time comes before the fallback poll: a long sleep ends at the first.
    const candidates = await findClaimable(db, now, free * 2, config.machineId, this.fallbackPollMs());
    let started = 0;
    let left = 0;
    for (const candidate of candidates) {
      if (candidate.runAfter > now) {
        this.nextRunAfter ??= candidate.runAfter.getTime();
        continue;
      }
      if (started >= free || this.inflight.has(candidate.id)) {
        left++;
        continue;
      }
      const op = await claimOperation(db, candidate, this.id, new Date(), config.leaseMs, config.machineId);
      if (!op) {
        left++; // its sandbox is locked, or another worker took it: look again at the short poll
        continue;
      }
      started++;
      const p = this.execute(op).finally(() => {
        this.inflight.delete(op.id);
        // A slot is free: look for more work now rather than after a poll interval.
        this.queuedSinceTick = true;
        this.wake?.();
      });
      this.inflight.set(op.id, p);
    }
    this.quiet = left === 0;
    return started;
  }

  /**
   * For tests and scripts: runs until nothing is claimable, nothing is in flight, and no operation whose
   * lease this worker lost is still waiting to run again before the deadline (the reaper requeues such
   * an operation with a backoff: it is not claimable *now*, but it is not done either).
   */
  async runUntilIdle(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    this.untilIdle++;
    try {
      await this.runUntil(deadline);
    } finally {
      if (--this.untilIdle === 0) this.lost.clear();
    }
  }

  private async runUntil(deadline: number): Promise<void> {
    for (;;) {
      const started = await this.tick({ reap: "always" });
      if (this.inflight.size > 0) await Promise.race([...this.inflight.values()]);
      else if (started === 0) {
        const pending = await findClaimable(this.ctx.db, new Date(), 1, this.ctx.config.machineId);
        if (pending.length === 0 && !(await this.lostStillDue(deadline))) return;
        await new Promise((r) => setTimeout(r, 25));
      }
      if (Date.now() > deadline) throw new Error("worker did not become idle in time");
    }
  }

  /** Whether an operation this worker lost is running elsewhere or queued to run before `deadline`. */
  private async lostStillDue(deadline: number): Promise<boolean> {
    if (this.lost.size === 0) return false;
    const rows = await unfinishedOperations(this.ctx.db, [...this.lost]);
    const open = new Set(rows.map((r) => r.id));
    for (const id of this.lost) if (!open.has(id)) this.lost.delete(id);
    return rows.some((r) => r.state === "running" || r.runAfter.getTime() <= deadline);
  }

  private async execute(op: OperationRow): Promise<void> {
    const started = Date.now();
    if (!isOperationKind(op.kind)) {
      await finishOperation(this.ctx.db, op, this.id, { state: "failed", error: `unknown operation kind ${op.kind}` });
      return;
    }
    const outcome = await runOperation(this.ctx, op, op.kind, OPERATION_HANDLERS[op.kind], {
      id: this.id,
      shutdown: this.shutdown.signal,
      log: this.log,
    });
    if (outcome === "lost" && this.untilIdle > 0) this.lost.add(op.id);
    else this.lost.delete(op.id);
    metrics(() => this.m).operationDuration.observe(
      { kind: op.kind, result: outcome === "requeued" || outcome === "lost" ? "unknown" : outcome },
      (Date.now() - started) / 1000,
    );
  }
}
