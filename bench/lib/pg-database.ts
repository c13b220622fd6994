// A throw-away PostgreSQL database for the bench's team runs (the soak, followers): created on the
// machine's PostgreSQL, migrated by the project's own migration script, dropped at the end.
import { execFile } from "node:child_process";
import path from "node:path";

import pg from "pg";

import { TEST_AUTH_SECRET } from "../../tests/support/app-server";

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
export const PG_ADMIN_URL = process.env.SANDBOXER_TEST_POSTGRES_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";

export async function withAdmin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

function migrate(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--conditions=react-server", "--import", "tsx", "scripts/db-migrate.ts", "deploy"],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, DATABASE_URL: url, NODE_ENV: "production", BETTER_AUTH_SECRET: TEST_AUTH_SECRET },
        timeout: 120_000,
      },
      (err, _out, stderr) => (err ? reject(new Error(`migration failed: ${stderr || err.message}`)) : resolve()),
    );
  });
}

export interface ThrowawayDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** Creates and migrates `sandboxer_<prefix>_<pid>_<ms>`; drop() removes it (connections and all). */
export async function createThrowawayDatabase(prefix: string): Promise<ThrowawayDatabase> {
  const name = `sandboxer_${prefix}_${process.pid}_${Date.now()}`;
  await withAdmin((c) => c.query(`CREATE DATABASE "${name}"`));
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${name}`;
  const drop = () => withAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => undefined);
  try {
    await migrate(u.toString());
  } catch (e) {
    await drop().catch(() => {});
    throw e;
  }
  return { name, url: u.toString(), drop };
}
