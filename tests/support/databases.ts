// Test databases: a fresh SQLite file or a fresh PostgreSQL database per test file, copied from a
// template that global-setup migrated once. PostgreSQL must be on loopback; anything else is refused
// so a test run can never touch a database that holds real data.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import pg from "pg";
import { inject } from "vitest";

import { createDb, tuneSqlite, type Db } from "@/lib/db/client";
import type { DatabaseConfig } from "@/lib/env";

export type TestProvider = "sqlite" | "postgresql";
export const PROVIDERS: TestProvider[] = ["sqlite", "postgresql"];

export const DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres";

/** Throws unless the URL points at a loopback PostgreSQL. */
export function assertLocalPostgres(url: string): void {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
  const local = host === "localhost" || host === "::1" || /^127\./.test(host) || host === "";
  if (!local) throw new Error(`refusing to run tests against a non-local PostgreSQL (${host}); use 127.0.0.1`);
}

export function pgAdminUrl(): string {
  const url = process.env.SANDBOXER_TEST_POSTGRES_URL ?? DEFAULT_PG_ADMIN_URL;
  assertLocalPostgres(url);
  return url;
}

export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function pgAdmin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: pgAdminUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  provider: TestProvider;
  config: DatabaseConfig;
  db: Db;
  /** Another client on the same database (a second process/instance would have its own). */
  connect(): Db;
  drop(): Promise<void>;
}

let counter = 0;

/** A fresh, migrated database for one test file. */
export async function createTestDatabase(provider: TestProvider): Promise<TestDatabase> {
  const templates = inject("dbTemplates");
  const clients: Db[] = [];
  if (provider === "sqlite") {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sandboxer-test-db-"));
    const file = path.join(dir, "test.db");
    fs.copyFileSync(templates.sqliteFile, file);
    const config: DatabaseConfig = { provider: "sqlite", url: `file:${file}`, file };
    // One client per process, as in production: two better-sqlite3 connections in ONE process
    // deadlock (a synchronous busy-wait blocks the event loop the lock holder needs to commit).
    // A second SQLite "instance" is therefore the same client; separate processes get their own.
    const db = await createDb(config);
    clients.push(db);
    await tuneSqlite(db);
    const connect = () => db;
    return {
      provider,
      config,
      db,
      connect,
      drop: async () => {
        await Promise.all(clients.map((c) => c.$disconnect()));
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const name = `sandboxer_test_${process.pid}_${Date.now()}_${++counter}`;
  await pgAdmin((c) => c.query(`CREATE DATABASE "${name}" TEMPLATE "${templates.postgresTemplate}"`));
  const config: DatabaseConfig = { provider: "postgresql", url: withDatabase(pgAdminUrl(), name) };
  const clientsReady = await Promise.all([createDb(config, { poolSize: 5 }), createDb(config, { poolSize: 5 })]);
  clients.push(...clientsReady);
  // A second client stands for another process or instance (PostgreSQL only; see the SQLite note).
  const connect = () => clientsReady[1]!;
  return {
    provider,
    config,
    db: clientsReady[0]!,
    connect,
    drop: async () => {
      await Promise.all(clients.map((c) => c.$disconnect()));
      await pgAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    dbTemplates: { sqliteFile: string; postgresTemplate: string };
  }
}
