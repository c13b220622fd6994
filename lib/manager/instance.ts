// The process's manager, built once from the environment: database, catalog (manifests + profiles),
// extension services, logger. Pages, actions, route handlers and the worker all use this one.
import "server-only";

import { db, dbReady } from "../db/client";
import { env, type Env } from "../env";
import type { ExtensionServices } from "../extensions/base";
import { loadCatalog, type Catalog } from "../extensions/catalog";
import { createRegistry } from "../extensions/registry";
import { formatIssue } from "../extensions/yaml-config";
import { logger } from "../logger";
import { Manager, type ManagerConfig } from "./manager";
import { Worker } from "./worker";

export function managerConfigFromEnv(e: Env): Partial<ManagerConfig> {
  return {
    leaseMs: e.SANDBOXER_LEASE,
    heartbeatMs: Math.max(250, Math.floor(e.SANDBOXER_LEASE / 3)),
    pollMs: e.SANDBOXER_WORKER_POLL,
    maxAttempts: e.SANDBOXER_MAX_ATTEMPTS,
    createTimeoutMs: e.SANDBOXER_CREATE_TIMEOUT,
    destroyTimeoutMs: e.SANDBOXER_DESTROY_TIMEOUT,
    queueTimeoutMs: e.SANDBOXER_QUEUE_TIMEOUT,
    quotaActive: e.SANDBOXER_QUOTA_ACTIVE,
    concurrency: e.SANDBOXER_WORKER_CONCURRENCY,
  };
}

export function extensionServicesFromEnv(e: Env): ExtensionServices {
  return { localWorkspaceRoot: e.localWorkspaceRoot };
}

export function catalogFromEnv(e: Env): Catalog {
  const catalog = loadCatalog({ configDir: e.configDir, registry: createRegistry(), services: extensionServicesFromEnv(e) });
  for (const issue of catalog.issues) logger().warn({ file: issue.file, field: issue.field, line: issue.line }, formatIssue(issue));
  return catalog;
}

const globalForManager = globalThis as unknown as { __sandboxerManager?: Manager; __sandboxerWorker?: Worker };

/** The process's manager. */
export function manager(): Manager {
  if (!globalForManager.__sandboxerManager) {
    const e = env();
    globalForManager.__sandboxerManager = new Manager({
      db: db(),
      catalog: catalogFromEnv(e),
      logger: logger(),
      config: managerConfigFromEnv(e),
    });
  }
  return globalForManager.__sandboxerManager;
}

/** Starts this process's worker once (instrumentation and `npm run worker` call it). */
export async function startWorker(): Promise<Worker> {
  if (globalForManager.__sandboxerWorker) return globalForManager.__sandboxerWorker;
  await dbReady();
  const worker = new Worker(manager());
  globalForManager.__sandboxerWorker = worker;
  worker.start();
  return worker;
}

export function runningWorker(): Worker | undefined {
  return globalForManager.__sandboxerWorker;
}
