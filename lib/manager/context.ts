// What the manager's parts are given: the database, the catalog, the SSH services, the logger, the
// in-process notifier and the configuration. Each function asks only for the parts it uses
// (`Pick<ManagerContext, "db" | "notifier">`), so a reader sees its reach from its signature; the
// Manager class is one object that has them all.
import "server-only";

import type { Db } from "../db/client";
import type { SshServices } from "../extensions/base";
import type { AnyExtension, Catalog } from "../extensions/catalog";
import type { Logger } from "../logger";
import type { Notifier } from "./notifier";

export interface ManagerConfig {
  /** How long a claimed operation stays ours without a heartbeat. */
  leaseMs: number;
  heartbeatMs: number;
  /**
   * How often a running create checks whether a destroy in another process asked it to stop. While
   * other processes' changes wake this one (PostgreSQL's wake-up connection is up, or the embedded
   * database's watch runs) the request arrives with its commit, and the check is only the fallback:
   * every `cancelPollWithWakeMs`, or cancelPollMs when that is longer (Notifier.fallbackPollMs).
   */
  cancelPollMs: number;
  cancelPollWithWakeMs: number;
  /** How often an idle worker looks for claimable operations another process queued. */
  pollMs: number;
  /**
   * The same while every queued operation wakes the worker anyway (PostgreSQL's wake-up connection is
   * up, or the embedded database's watch runs: Notifier.crossProcessWake): the look is then only the
   * fallback, and the worker sleeps until its reaper, its maintenance or the next queued operation's
   * time is due, at most this long (never less than pollMs). Worker.nextWaitMs.
   */
  pollWithWakeMs: number;
  maxAttempts: number;
  createTimeoutMs: number;
  destroyTimeoutMs: number;
  queueTimeoutMs: number;
  /** How soon a create waiting for host capacity is tried again. */
  capacityRetryMs: number;
  /** Active sandboxes per user; 0 disables the quota. */
  quotaActive: number;
  concurrency: number;
  /** A worker whose heartbeat is older than this is considered gone. */
  workerStaleMs: number;
  /** First retry delay after a worker died; doubles per attempt, capped at a minute. */
  retryBackoffMs: number;
  /** How often expiry and state repair run (on one instance at a time). */
  maintenanceMs: number;
  /** How often every host's health is checked and its workspaces compared with the records. */
  healthIntervalMs: number;
  /** How long a check of a healthy host waits before asking once more, before it calls the host unreachable. */
  hostCheckRetryMs: number;
  /** Schedule those checks automatically (tests that are not about health turn it off). */
  autoHostChecks: boolean;
  /**
   * This process's machine (the data directory's machine-id). Its worker binds the machine-local
   * sandboxes it creates to it and runs only those (and unbound work). Null: it runs only unbound work.
   */
  machineId: string | null;
  /** Free bytes under a host's workspace root below which it gets no new sandboxes (0: no floor). */
  minFreeBytes: number;
  /** Where images/ (image manifests and Packer templates) is. */
  configDir: string;
  /** The packer program image builds run. */
  packerPath: string;
  /** Warm-pool members being made at once, across all pools and hosts. */
  poolRefillMax: number;
  /** Warm-pool members being made at once on one host. */
  poolRefillPerHost: number;
  /**
   * How long after a claim its refill starts: a burst of claims is served before the refill's ssh and
   * rsync compete with it for the CPU (and with the claimed sandbox's first sync on the VM).
   */
  poolRefillDelayMs: number;
  /** How long a failed member stays (blocking its slot) before it is recycled and tried again. */
  poolFailureCooldownMs: number;
  /** A new API token's lifetime when its creator does not choose one. */
  tokenTtlDefaultMs: number;
  /** The longest lifetime a new API token may have. */
  tokenTtlMaxMs: number;
}

export const DEFAULT_MANAGER_CONFIG: ManagerConfig = {
  leaseMs: 30_000,
  heartbeatMs: 5_000,
  cancelPollMs: 1_000,
  cancelPollWithWakeMs: 15_000,
  pollMs: 1_000,
  pollWithWakeMs: 15_000,
  maxAttempts: 3,
  createTimeoutMs: 30 * 60_000,
  destroyTimeoutMs: 10 * 60_000,
  queueTimeoutMs: 60 * 60_000,
  capacityRetryMs: 5_000,
  quotaActive: 5,
  concurrency: 16,
  workerStaleMs: 30_000,
  retryBackoffMs: 2_000,
  maintenanceMs: 10_000,
  healthIntervalMs: 60_000,
  hostCheckRetryMs: 5_000,
  autoHostChecks: true,
  machineId: null,
  minFreeBytes: 1024 * 2 ** 20,
  configDir: ".",
  packerPath: "packer",
  poolRefillMax: 4,
  poolRefillPerHost: 2,
  poolRefillDelayMs: 0,
  poolFailureCooldownMs: 60_000,
  tokenTtlDefaultMs: 90 * 86_400_000,
  tokenTtlMaxMs: 365 * 86_400_000,
};

export interface ManagerContext {
  readonly db: Db;
  readonly catalog: Catalog;
  readonly logger: Logger;
  readonly config: ManagerConfig;
  readonly notifier: Notifier;
  /** The SSH services extensions use; the manager uses them for host health and reconciliation. */
  readonly ssh: SshServices | undefined;
  /** Operations this process is running, so a local destroy can cancel a local create at once. */
  readonly runningOperations: Map<string, AbortController>;
}

/** The loaded extension with this id, if any. */
export function extensionOf(ctx: Pick<ManagerContext, "catalog">, id: string): AnyExtension | undefined {
  return ctx.catalog.extensions.get(id);
}
