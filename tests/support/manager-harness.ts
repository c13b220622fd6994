// Builds a real Manager (real database, real catalog from YAML files in a temp config dir) for
// integration tests, with ext.fake registered beside the built-ins.
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

import type { Actor } from "@/lib/auth/actor";
import type { Db } from "@/lib/db/client";
import type { ExtensionClass, ExtensionServices } from "@/lib/extensions/base";
import { loadCatalog } from "@/lib/extensions/catalog";
import { FakeExtension } from "@/lib/extensions/fake/extension";
import { createRegistry } from "@/lib/extensions/registry";
import { createLogger } from "@/lib/logger";
import { Manager, type ManagerConfig } from "@/lib/manager/manager";
import { Worker } from "@/lib/manager/worker";

import { writeConfigDir } from "./config-dir";
import { createTestDatabase, type TestDatabase, type TestProvider } from "./databases";

export { FAKE_MANIFEST, writeConfigDir } from "./config-dir";

export function fakeProfile(params: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return { extension: "ext.fake", params, ...extra };
}

export interface TestManager {
  database: TestDatabase;
  db: Db;
  manager: Manager;
  configDir: string;
  user: Actor;
  admin: Actor;
  /** Another user (a member) for authorization tests. */
  other: Actor;
  newWorker(opts?: { id?: string; concurrency?: number; config?: Partial<ManagerConfig> }): Worker;
  /** A second manager on its own database connection (another process or app instance). */
  secondManager(config?: Partial<ManagerConfig>): Manager;
  close(): Promise<void>;
}

export const FAST_CONFIG: Partial<ManagerConfig> = {
  leaseMs: 3_000,
  heartbeatMs: 500,
  cancelPollMs: 100,
  pollMs: 50,
  retryBackoffMs: 50,
  capacityRetryMs: 100,
  hostCheckRetryMs: 200,
  quotaActive: 0,
  // Health checks would race with what a test sets up; tests of health request them explicitly.
  autoHostChecks: false,
};

export async function createTestManager(
  provider: TestProvider,
  opts: {
    profiles?: Record<string, Record<string, unknown>>;
    config?: Partial<ManagerConfig>;
    services?: Partial<ExtensionServices>;
    extra?: Record<string, ExtensionClass>;
    manifests?: Record<string, unknown>[];
    includeRepoManifests?: boolean;
  } = {},
): Promise<TestManager> {
  const database = await createTestDatabase(provider);
  const configDir = writeConfigDir({ profiles: opts.profiles, manifests: opts.manifests, includeRepoManifests: opts.includeRepoManifests });
  const services: ExtensionServices = { localWorkspaceRoot: path.join(configDir, "workspaces"), ...opts.services };
  const registry = createRegistry({ extra: { fake: FakeExtension, ...opts.extra } });
  const build = (db: Db, config?: Partial<ManagerConfig>) =>
    new Manager({
      db,
      catalog: loadCatalog({ configDir, registry, services }),
      ssh: services.ssh,
      logger: createLogger(process.env.TEST_LOG_LEVEL ?? "silent"),
      config: { ...FAST_CONFIG, ...opts.config, ...config },
    });
  const manager = build(database.db);
  const mkUser = async (role: "admin" | "member", name: string): Promise<Actor> => {
    const id = `u_${randomUUID().slice(0, 8)}`;
    const email = `${name}-${id}@example.test`;
    await database.db.user.create({ data: { id, name, email, role } });
    return { kind: "user", userId: id, label: email, role };
  };
  const user = await mkUser("member", "alice");
  const other = await mkUser("member", "bob");
  const admin = await mkUser("admin", "root");
  const workers: Worker[] = [];
  const managers: Manager[] = [];
  return {
    database,
    db: database.db,
    manager,
    configDir,
    user,
    other,
    admin,
    newWorker(o = {}) {
      const m = o.config ? build(database.db, o.config) : manager;
      const w = new Worker(m, { id: o.id, concurrency: o.concurrency });
      workers.push(w);
      return w;
    },
    secondManager(config) {
      const m = build(database.connect(), config);
      managers.push(m);
      return m;
    },
    async close() {
      await Promise.all(workers.map((w) => w.stop(1_000)));
      await database.drop();
      fs.rmSync(configDir, { recursive: true, force: true });
    },
  };
}

/** Polls until the sandbox reaches one of `statuses` (or throws with the last status seen). */
export async function waitForStatus(manager: Manager, id: string, statuses: string[], timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    last = (await manager.getSandbox(id)).status;
    if (statuses.includes(last)) return last;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`sandbox ${id} did not reach ${statuses.join("|")} (last: ${last})`);
}
