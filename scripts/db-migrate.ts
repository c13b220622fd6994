// npm run db:migrate        apply pending migrations to DATABASE_URL (also run by `npm start` / `npm run dev`)
// npm run db:migrate:dev -- --name <name>
//                           write a new migration for BOTH providers from the models (prisma/models.prisma)
// npm run db:check          exit 2 when the models and either migration history disagree (prints the SQL)
// npm run db:migrate -- status
//
// PostgreSQL scratch databases for dev/check are created (and dropped) through
// SANDBOXER_MIGRATE_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

import Database from "better-sqlite3";
import pg from "pg";

import { checkDataDir, parseEnv, redactUrl, restrictDataFiles, type DatabaseConfig } from "../lib/env";
import { isSandboxerError } from "../lib/errors";
import { logger } from "../lib/logger";
import { assertDatabaseFree, assertPortFree } from "../lib/instance-lock";
import { applyMigrations, createMigration, describeEngineError, diffModelsAgainstMigrations, migrationStatus } from "../lib/db/migrations";
import { sqliteBinding } from "../lib/db/sqlite-binding";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  // --serve: run by `npm start` / `npm run dev` before the server: refuse at once, in one line, when another
  // server holds the embedded database or the port is taken (instead of a migration-engine timeout).
  options: { name: { type: "string" }, root: { type: "string" }, serve: { type: "boolean" } },
});
const command = positionals[0] ?? "deploy";
// The project whose prisma/ folder is used (tests point it at a copy).
const projectRoot = path.resolve(values.root ?? process.cwd());
const adminUrl = process.env.SANDBOXER_MIGRATE_POSTGRES_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";

async function withScratchDatabases<T>(fn: (sqlite: DatabaseConfig, postgres: DatabaseConfig) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sandboxer-migrate-"));
  const name = `sandboxer_scratch_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect().catch((e: Error) => {
    throw new Error(
      `cannot reach PostgreSQL at ${redactUrl(adminUrl)} (SANDBOXER_MIGRATE_POSTGRES_URL) for the scratch database: ${e.message}`,
    );
  });
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    return await fn(
      { provider: "sqlite", url: `file:${dir}/scratch.db`, file: `${dir}/scratch.db` },
      { provider: "postgresql", url: url.toString() },
    );
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => {});
    await admin.end();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  switch (command) {
    case "deploy": {
      const env = parseEnv(process.env);
      if (values.serve) {
        assertDatabaseFree(env);
        await assertPortFree(env.HOST, env.PORT);
      }
      checkDataDir(env, { create: true });
      if (env.database.provider === "sqlite") {
        // WAL is a property of the file: set once (before the engine holds a connection), and every
        // later connection — app, worker, CLI — gets it.
        const sqlite = new Database(env.database.file, { timeout: 10_000, ...sqliteBinding() });
        sqlite.pragma("journal_mode = WAL");
        sqlite.close();
      }
      const applied = await applyMigrations(env.database, projectRoot);
      restrictDataFiles(env); // the database was just created with the umask's mode (often 0644)
      const where = env.database.provider === "sqlite" ? env.database.file : redactUrl(env.database.url);
      const done = applied.length
        ? `Applied ${applied.length} migration(s) to ${where}: ${applied.join(", ")}`
        : `Database ${where} is up to date.`;
      // Under `npm start`/`npm run dev` this is the server's first log line: a record like the rest.
      if (values.serve) logger().child({ component: "migrate" }).info(done);
      else console.log(done);
      return 0;
    }
    case "status": {
      const env = parseEnv(process.env);
      const r = await migrationStatus(env.database, projectRoot);
      console.log(JSON.stringify(r, null, 2));
      return r.history || r.failedMigrationNames.length || r.editedMigrationNames.length ? 1 : 0;
    }
    case "check": {
      return withScratchDatabases(async (sqlite, postgres) => {
        let drift = false;
        for (const config of [sqlite, postgres]) {
          const sql = await diffModelsAgainstMigrations(config, projectRoot);
          if (sql && !/^-- This is an empty migration\.?$/.test(sql)) {
            drift = true;
            console.error(`✗ ${config.provider}: the models need SQL that no migration has:\n${sql}\n`);
          } else {
            console.log(`✓ ${config.provider}: migrations match the models`);
          }
        }
        if (drift) console.error("Run `npm run db:migrate:dev -- --name <what-changed>` and commit the new migrations.");
        return drift ? 2 : 0;
      });
    }
    case "dev": {
      const name = values.name;
      if (!name || !/^[a-z0-9_]+$/.test(name)) {
        console.error("usage: npm run db:migrate:dev -- --name <snake_case_name>");
        return 1;
      }
      return withScratchDatabases(async (sqlite, postgres) => {
        for (const config of [sqlite, postgres]) {
          const created = await createMigration(config, name, projectRoot);
          console.log(
            created
              ? `${config.provider}: wrote ${path.relative(projectRoot, created.dir)}/migration.sql`
              : `${config.provider}: already in sync`,
          );
        }
        return 0;
      });
    }
    default:
      console.error("usage: db-migrate.ts deploy | status | check | dev --name <name>");
      return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`Error: ${isSandboxerError(e) ? e.message : describeEngineError(e)}`);
    process.exit(1);
  },
);
