// Migrations without Prisma's native schema engine (which cannot be downloaded here, see
// docs/decisions/0001-prisma-offline-migrations.md). Drives @prisma/schema-engine-wasm — the same
// engine compiled to WebAssembly, pinned exactly in package.json because its API is internal — through
// the app's own driver adapters. Reads and writes Prisma's usual files (prisma/<provider>/migrations/
// <timestamp>_<name>/migration.sql, migration_lock.toml) and the `_prisma_migrations` table.
//
// Used by scripts/db-migrate.ts (db:migrate, db:migrate:dev, db:check), by start-up, and by the test
// setup. Each workaround below is for an engine bug met on this machine (see the decision record).
import "server-only";

import { randomUUID } from "node:crypto";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

import { PrismaBetterSqlite3 } from "@prisma/adapter-better-sqlite3";
import { PrismaPg } from "@prisma/adapter-pg";
import {
  bindMigrationAwareSqlAdapterFactory,
  ColumnTypeEnum,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
  type SqlQuery,
  type SqlResultSet,
  type Transaction,
} from "@prisma/driver-adapter-utils";
import * as glue from "@prisma/schema-engine-wasm/schema_engine_bg";

import type { DatabaseConfig } from "../env";
import { sqliteBinding } from "./sqlite-binding";

export type Provider = DatabaseConfig["provider"];

const require = createRequire(import.meta.url);

/** prisma/sqlite or prisma/postgres under the project root. */
export function schemaDir(provider: Provider, projectRoot = process.cwd()): string {
  return path.join(projectRoot, "prisma", provider === "sqlite" ? "sqlite" : "postgres");
}

type SchemaFiles = { files: { path: string; content: string }[] };

function readSchema(dir: string): SchemaFiles {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".prisma"))
    .sort()
    .map((f) => path.join(dir, f));
  return { files: files.map((p) => ({ path: p, content: fs.readFileSync(p, "utf8") })) };
}

function migrationsList(dir: string, { withMigrations = true } = {}) {
  const migrationsDir = path.join(dir, "migrations");
  const lockPath = path.join(migrationsDir, "migration_lock.toml");
  const dirs = fs.existsSync(migrationsDir)
    ? fs
        .readdirSync(migrationsDir, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name)
        .sort()
    : [];
  return {
    baseDir: migrationsDir,
    lockfile: {
      path: "migration_lock.toml",
      content: fs.existsSync(lockPath) ? fs.readFileSync(lockPath, "utf8") : null,
    },
    shadowDbInitScript: "",
    migrationDirectories: (withMigrations ? dirs : []).map((d) => {
      const file = path.join(migrationsDir, d, "migration.sql");
      const content = fs.existsSync(file)
        ? { tag: "ok" as const, value: fs.readFileSync(file, "utf8") }
        : { tag: "error" as const, value: `${file} not found` };
      return { path: d, migrationFile: { path: "migration.sql", content } };
    }),
  };
}

const filters = { externalTables: [], externalEnums: [] };

// SQLite: the engine replays migrations into the shadow database with executeRaw, which
// better-sqlite3 limits to one statement; fall back to executeScript for parameterless scripts.
function withScriptFallback<T extends SqlDriverAdapter>(adapter: T): T {
  const executeRaw = adapter.executeRaw.bind(adapter);
  adapter.executeRaw = async (query: SqlQuery) => {
    try {
      return await executeRaw(query);
    } catch (e) {
      if (query.args.length === 0 && e instanceof RangeError && /more than one statement/.test(e.message)) {
        await adapter.executeScript(query.sql);
        return 0;
      }
      throw e;
    }
  };
  return adapter;
}

// @prisma/adapter-pg runs a script by splitting it at every ";" — inside a function body ($$ … $$),
// a string or a comment too — so a migration that defines a trigger function could not be applied.
// PostgreSQL takes a whole script as one simple query (no parameters): send it as it is.
function withWholeScripts<T extends SqlDriverAdapter>(adapter: T): T {
  const raw = adapter as unknown as { client: { query(sql: string): Promise<unknown> }; onError(e: unknown): never };
  adapter.executeScript = async (script: string) => {
    try {
      await raw.client.query(script);
    } catch (e) {
      raw.onError(e);
    }
  };
  return adapter;
}

type PgQueryable = {
  queryRaw(q: SqlQuery): Promise<SqlResultSet>;
  performIO?(q: SqlQuery): Promise<{ fields: { dataTypeID: number }[] }>;
  startTransaction?(...a: unknown[]): Promise<Transaction>;
};

// @prisma/adapter-pg rejects pg_catalog's internal "char" type (OID 18), which the schema describer
// reads; report those columns as Character (plain text breaks on PostgreSQL 18). Migration process only.
function withCharColumns<T extends PgQueryable>(queryable: T): T {
  const proto = Object.getPrototypeOf(queryable) as Required<PgQueryable>;
  queryable.queryRaw = async function (this: T, query: SqlQuery) {
    const charIdx: number[] = [];
    const self = Object.create(this) as Required<PgQueryable>; // per call: concurrent queries share nothing
    self.performIO = async (q: SqlQuery) => {
      const res = await proto.performIO.call(this, q);
      res.fields.forEach((f, i) => {
        if (f.dataTypeID === 18) {
          charIdx.push(i);
          f.dataTypeID = 25;
        }
      });
      return res;
    };
    const out = await proto.queryRaw.call(self, query);
    for (const i of charIdx) out.columnTypes[i] = ColumnTypeEnum.Character;
    return out;
  };
  if (typeof queryable.startTransaction === "function") {
    const start = queryable.startTransaction.bind(queryable);
    queryable.startTransaction = async (...a: unknown[]) =>
      withCharColumns((await start(...a)) as unknown as PgQueryable) as unknown as Transaction;
  }
  return queryable;
}

/** The engine does not close the connections it opens; we track and close them after each use. */
type TrackedFactory = SqlMigrationAwareDriverAdapterFactory & { disposeAll(): Promise<void> };

function tracked(factory: SqlMigrationAwareDriverAdapterFactory): TrackedFactory {
  const open = new Set<SqlDriverAdapter>();
  const track = async (p: Promise<SqlDriverAdapter>) => {
    const adapter = await p;
    open.add(adapter);
    const dispose = adapter.dispose.bind(adapter);
    adapter.dispose = async () => {
      if (!open.delete(adapter)) return;
      await dispose();
    };
    return adapter;
  };
  return {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: () => track(factory.connect()),
    connectToShadowDb: () => track(factory.connectToShadowDb()),
    disposeAll: async () => {
      for (const a of [...open]) await a.dispose().catch(() => {});
    },
  };
}

function makeFactory(config: DatabaseConfig): TrackedFactory {
  return tracked(makeRawFactory(config));
}

function makeRawFactory(config: DatabaseConfig): SqlMigrationAwareDriverAdapterFactory {
  if (config.provider === "sqlite") {
    const f = new PrismaBetterSqlite3({ url: config.file, timeout: 10_000, ...sqliteBinding() });
    return {
      provider: f.provider,
      adapterName: f.adapterName,
      connect: async () => withScriptFallback(await f.connect()),
      connectToShadowDb: async () => withScriptFallback(await f.connectToShadowDb()),
    };
  }
  const f = new PrismaPg({ connectionString: config.url, max: 2 });
  return {
    provider: f.provider,
    adapterName: f.adapterName,
    connect: async () => withWholeScripts(withCharColumns((await f.connect()) as unknown as PgQueryable) as unknown as SqlDriverAdapter),
    // PrismaPg#connectToShadowDb() connects to the REAL database (its connectionString wins over the
    // shadow name). Create and drop a throw-away database ourselves; the role needs CREATEDB.
    connectToShadowDb: async () => {
      const admin = await f.connect();
      const name = `prisma_shadow_${randomUUID().replaceAll("-", "")}`;
      await admin.executeScript(`CREATE DATABASE "${name}"`);
      const shadowUrl = new URL(config.url);
      shadowUrl.pathname = `/${name}`;
      const shadowFactory = new PrismaPg({ connectionString: shadowUrl.toString(), max: 2 });
      const shadow = withWholeScripts(
        withCharColumns((await shadowFactory.connect()) as unknown as PgQueryable) as unknown as SqlDriverAdapter,
      );
      const dispose = shadow.dispose.bind(shadow);
      shadow.dispose = async () => {
        await dispose();
        await admin.executeScript(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        await admin.dispose();
      };
      return shadow;
    },
  };
}

let wasmLoaded = false;

function loadWasm(): void {
  if (wasmLoaded) return;
  const bgJs = require.resolve("@prisma/schema-engine-wasm/schema_engine_bg");
  const wasmFile = path.join(path.dirname(bgJs), "schema_engine_bg.wasm");
  const wasmModule = new WebAssembly.Module(fs.readFileSync(wasmFile));
  const g = globalThis as { PRISMA_WASM_PANIC_REGISTRY?: unknown };
  g.PRISMA_WASM_PANIC_REGISTRY ??= { set_message: (m: string) => console.error("schema-engine panic:", m) };
  const instance = new WebAssembly.Instance(wasmModule, {
    "./schema_engine_bg.js": glue as unknown as WebAssembly.ModuleImports,
  });
  glue.__wbg_set_wasm(instance.exports);
  (instance.exports as { __wbindgen_start(): void }).__wbindgen_start();
  wasmLoaded = true;
}

type Engine = glue.SchemaEngine;

async function withEngine<T>(config: DatabaseConfig, dir: string, fn: (engine: Engine) => Promise<T>): Promise<T> {
  loadWasm();
  const datamodels = readSchema(dir).files.map((f) => [f.path, f.content] as [string, string]);
  const debug = (line: string) => {
    if (process.env.DEBUG_SCHEMA_ENGINE) console.error("[schema-engine]", line);
  };
  const factory = makeFactory(config);
  const adapter = bindMigrationAwareSqlAdapterFactory(factory);
  const engine = await glue.SchemaEngine.new({ datamodels }, debug, adapter);
  try {
    return await fn(engine);
  } finally {
    engine.free();
    await factory.disposeAll();
  }
}

/** Errors from the engine carry a Prisma code (P1014, P3006…) and a message. */
export function describeEngineError(e: unknown): string {
  const err = e as { code?: string; message?: string };
  return `${err.code ? `${err.code}: ` : ""}${err.message ?? String(e)}`;
}

/** Applies pending migrations of the provider's history. Returns the names applied. */
export async function applyMigrations(config: DatabaseConfig, projectRoot = process.cwd()): Promise<string[]> {
  const dir = schemaDir(config.provider, projectRoot);
  return withEngine(config, dir, async (engine) => {
    const { appliedMigrationNames } = await engine.applyMigrations({ migrationsList: migrationsList(dir), filters });
    return appliedMigrationNames;
  });
}

/** Applied, pending and edited migrations, for `db:migrate status`. */
export async function migrationStatus(config: DatabaseConfig, projectRoot = process.cwd()) {
  const dir = schemaDir(config.provider, projectRoot);
  return withEngine(config, dir, (engine) =>
    engine.diagnoseMigrationHistory({ migrationsList: migrationsList(dir), optInToShadowDatabase: false, filters }),
  );
}

/**
 * The SQL that the models need beyond what the provider's migration history creates; empty when they
 * agree. `config` is a scratch database used to replay the history (SQLite: a temp file is enough;
 * PostgreSQL: any database the role can connect to — a throw-away shadow is created beside it).
 */
export async function diffModelsAgainstMigrations(config: DatabaseConfig, projectRoot = process.cwd()): Promise<string> {
  const dir = schemaDir(config.provider, projectRoot);
  return withEngine(config, dir, async (engine) => {
    const r = await engine.diff({
      from: { tag: "migrations", ...migrationsList(dir) },
      to: { tag: "schemaDatamodel", ...readSchema(dir) },
      script: true,
      exitCode: true,
      filters,
    } as Parameters<Engine["diff"]>[0]);
    return (r.stdout ?? "").trim();
  });
}

function writeLockfile(dir: string, provider: Provider): void {
  const migrationsDir = path.join(dir, "migrations");
  const lockPath = path.join(migrationsDir, "migration_lock.toml");
  if (!fs.existsSync(lockPath)) {
    fs.mkdirSync(migrationsDir, { recursive: true });
    fs.writeFileSync(
      lockPath,
      `# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "${provider}"\n`,
    );
  }
}

/**
 * Writes a new migration `<migrationName>/migration.sql` for the provider from the difference between
 * its history and the models, using `config` as the development database (reset if needed — only
 * ever pass a scratch database). Returns the directory written, or null when already in sync.
 */
export async function createMigration(
  config: DatabaseConfig,
  migrationName: string,
  projectRoot = process.cwd(),
): Promise<{ dir: string; sql: string } | null> {
  const dir = schemaDir(config.provider, projectRoot);
  writeLockfile(dir, config.provider);
  return withEngine(config, dir, async (engine) => {
    const devDiagnostic = async () => {
      try {
        return await engine.devDiagnostic({ migrationsList: migrationsList(dir), filters });
      } catch (e) {
        // SQLite through an adapter: a fresh database without _prisma_migrations answers P1014
        // instead of "no migrations yet". Create the (empty) table, then ask again.
        if ((e as { code?: string }).code !== "P1014") throw e;
        await engine.applyMigrations({ migrationsList: migrationsList(dir, { withMigrations: false }), filters });
        return await engine.devDiagnostic({ migrationsList: migrationsList(dir), filters });
      }
    };
    const { action } = await devDiagnostic();
    if (action.tag === "reset") await engine.reset({ filter: filters });
    const applied = await engine.applyMigrations({ migrationsList: migrationsList(dir), filters });
    // evaluateDataLoss/createMigration reuse the shadow schema devDiagnostic computed; it skips that
    // when the database was behind, so ask again after applying.
    if (applied.appliedMigrationNames.length) await devDiagnostic();
    const schema = readSchema(dir);
    const loss = await engine.evaluateDataLoss({ migrationsList: migrationsList(dir), schema, filters });
    for (const w of [...loss.warnings, ...loss.unexecutableSteps]) console.warn(`warning: ${w.message}`);
    const created = await engine.createMigration({
      draft: true,
      migrationName,
      migrationsList: migrationsList(dir),
      schema,
      filters,
    });
    if (created.migrationScript == null) return null;
    const out = path.join(dir, "migrations", created.generatedMigrationName);
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, `migration.${created.extension}`), created.migrationScript);
    return { dir: out, sql: created.migrationScript };
  });
}
