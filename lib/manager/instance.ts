// The process's manager, built once from the environment: database, catalog (manifests + profiles),
// extension services, logger. Pages, actions, route handlers and the worker all use this one.
import "server-only";

import path from "node:path";

import { db, dbReady, sqliteConnectionOf, type Db } from "../db/client";
import { startSqliteWatcher } from "../db/sqlite-wake";
import { startWakeListener, type WakeListener } from "../db/wake";
import { env, type Env } from "../env";
import type { ExtensionServices } from "../extensions/base";
import { loadCatalog, type Catalog } from "../extensions/catalog";
import { createRegistry } from "../extensions/registry";
import { formatIssue } from "../extensions/yaml-config";
import { readHostsFile, type HostEntry } from "../hosts/hosts-file";
import { syncHosts } from "../hosts/host-sync";
import { createSshServices } from "../hosts/ssh-services";
import { logger } from "../logger";
import { machineIdOf } from "../machine-id";
import { Manager, type ManagerConfig } from "./manager";
import { Worker } from "./worker";

export function managerConfigFromEnv(e: Env): Partial<ManagerConfig> {
  return {
    leaseMs: e.SANDBOXER_LEASE,
    heartbeatMs: Math.max(250, Math.floor(e.SANDBOXER_LEASE / 3)),
    pollMs: e.SANDBOXER_WORKER_POLL,
    cancelPollMs: e.SANDBOXER_CANCEL_POLL,
    maxAttempts: e.SANDBOXER_MAX_ATTEMPTS,
    createTimeoutMs: e.SANDBOXER_CREATE_TIMEOUT,
    destroyTimeoutMs: e.SANDBOXER_DESTROY_TIMEOUT,
    queueTimeoutMs: e.SANDBOXER_QUEUE_TIMEOUT,
    quotaActive: e.SANDBOXER_QUOTA_ACTIVE,
    poolRefillMax: e.SANDBOXER_POOL_REFILL_MAX,
    poolRefillPerHost: e.SANDBOXER_POOL_REFILL_PER_HOST,
    poolRefillDelayMs: e.SANDBOXER_POOL_REFILL_DELAY,
    concurrency: e.SANDBOXER_WORKER_CONCURRENCY,
    healthIntervalMs: e.SANDBOXER_HEALTH_INTERVAL,
    // A worker heartbeats every lease/3 on its own timer: silent for a whole lease, it is gone.
    workerStaleMs: e.SANDBOXER_LEASE,
    machineId: machineIdOf(e.dataDir),
    minFreeBytes: e.SANDBOXER_HOST_MIN_FREE_MB * 2 ** 20,
    configDir: e.configDir,
    tokenTtlDefaultMs: e.SANDBOXER_TOKEN_TTL_DEFAULT,
    tokenTtlMaxMs: e.SANDBOXER_TOKEN_TTL_MAX,
  };
}

export function extensionServicesFromEnv(e: Env, database: Db): ExtensionServices {
  return {
    localWorkspaceRoot: e.localWorkspaceRoot,
    ssh: createSshServices({
      db: database,
      hosts: hostEntries(),
      defaultIdentity: e.SANDBOXER_SSH_IDENTITY,
      readyTimeoutMs: e.SANDBOXER_SSH_CONNECT_TIMEOUT,
    }),
  };
}

const globalForHosts = globalThis as unknown as { __sandboxerHosts?: HostEntry[] };

/** hosts.yaml, read once (an invalid file stops the server at start with file, line and field). */
export function hostEntries(): HostEntry[] {
  const e = env();
  globalForHosts.__sandboxerHosts ??= readHostsFile(e.hostsFile, path.relative(e.configDir, e.hostsFile) || e.hostsFile);
  return globalForHosts.__sandboxerHosts;
}

/** Upserts hosts.yaml into the host registry (every instance does this at start; it is idempotent). */
export async function syncHostsFromConfig(): Promise<void> {
  const e = env();
  const database = await dbReady();
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await syncHosts(database, hostEntries(), { low: e.SANDBOXER_TUNNEL_PORTS.low, high: e.SANDBOXER_TUNNEL_PORTS.high });
      if (r.added.length || r.disabled.length) logger().info(r, "host registry synced from hosts.yaml");
      return;
    } catch (err) {
      // Another instance inserted the same host a moment ago: the next pass updates instead.
      if ((err as { code?: string }).code !== "P2002" || attempt >= 3) throw err;
    }
  }
}

export function catalogFromEnv(e: Env, services: ExtensionServices): Catalog {
  const catalog = loadCatalog({ configDir: e.configDir, registry: createRegistry(), services });
  for (const issue of catalog.issues) logger().warn({ file: issue.file, field: issue.field, line: issue.line }, formatIssue(issue));
  return catalog;
}

const globalForManager = globalThis as unknown as { __sandboxerManager?: Manager; __sandboxerWorker?: Worker };

/** The process's manager. */
export function manager(): Manager {
  if (!globalForManager.__sandboxerManager) {
    const e = env();
    const services = extensionServicesFromEnv(e, db());
    globalForManager.__sandboxerManager = new Manager({
      db: db(),
      catalog: catalogFromEnv(e, services),
      ssh: services.ssh,
      logger: logger(),
      config: managerConfigFromEnv(e),
    });
  }
  return globalForManager.__sandboxerManager;
}

/** Starts this process's worker once (the web server and `npm run worker` call it). */
export async function startWorker(): Promise<Worker> {
  if (globalForManager.__sandboxerWorker) return globalForManager.__sandboxerWorker;
  await dbReady();
  const worker = new Worker(manager());
  globalForManager.__sandboxerWorker = worker;
  worker.start();
  return worker;
}

const globalForWake = globalThis as unknown as { __sandboxerWake?: WakeListener };

/**
 * Other processes' changes wake this process's worker, event streams and running operations at once
 * instead of at their next poll: PostgreSQL's notifications (lib/db/wake.ts), or on the embedded
 * database a watch of the file's commits (lib/db/sqlite-wake.ts). Once per process, after initDb.
 */
export function listenAcrossProcesses(): void {
  const e = env();
  if (globalForWake.__sandboxerWake) return;
  const { notifier } = manager();
  if (e.database.provider === "postgresql") {
    globalForWake.__sandboxerWake = startWakeListener(e.database.url, notifier, logger());
  } else {
    const client = db();
    globalForWake.__sandboxerWake = startSqliteWatcher(() => sqliteConnectionOf(client), notifier, logger());
  }
}
