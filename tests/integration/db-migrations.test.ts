// The migration tooling and start-up checks, run as a person would run them (child processes).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";

import { REPO_ROOT } from "../support/app-server";
import { PROVIDERS, pgAdmin, pgAdminUrl, withDatabase } from "../support/databases";

function runScript(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ["--conditions=react-server", "--import", "tsx", "scripts/db-migrate.ts", ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH!, HOME: process.env.HOME!, NODE_ENV: "test", ...env } as NodeJS.ProcessEnv,
    encoding: "utf8",
    timeout: 120_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function copyPrisma(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "sandboxer-prisma-copy-"));
  // cpSync keeps the models.prisma symlinks, which point at ../models.prisma inside the copy.
  fs.cpSync(path.join(REPO_ROOT, "prisma"), path.join(root, "prisma"), { recursive: true, verbatimSymlinks: true });
  return root;
}

describe("db:check", () => {
  it("passes on the repository: both migration histories match the models", () => {
    const r = runScript(["check"]);
    expect(r.err).toBe("");
    expect(r.out).toContain("✓ sqlite: migrations match the models");
    expect(r.out).toContain("✓ postgresql: migrations match the models");
    expect(r.code).toBe(0);
  });

  it("fails with the SQL it would add after a model change without a migration", () => {
    const root = copyPrisma();
    try {
      const models = path.join(root, "prisma", "models.prisma");
      fs.writeFileSync(
        models,
        fs
          .readFileSync(models, "utf8")
          .replace("  capacity       Int       @default(10)", "  capacity       Int       @default(10)\n  rack           String?"),
      );
      const r = runScript(["check", "--root", root]);
      expect(r.code).toBe(2);
      expect(r.err).toContain("✗ sqlite");
      expect(r.err).toContain("✗ postgresql");
      expect(r.err).toMatch(/ALTER TABLE "BuildHost" ADD COLUMN "rack" TEXT/);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("db:migrate", () => {
  it("creates and migrates a fresh embedded database, then finds nothing to do", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sandboxer-fresh-"));
    const env = { DATABASE_URL: `file:${dir}/data/x.db`, SANDBOXER_DATA_DIR: `${dir}/data` };
    try {
      const first = runScript(["deploy"], env);
      expect(first.code).toBe(0);
      expect(first.out).toMatch(/Applied \d+ migration\(s\)/);
      const second = runScript(["deploy"], env);
      expect(second.code, second.err).toBe(0);
      expect(second.out).toContain("is up to date");
      expect(second.out).not.toMatch(/Applied \d+ migration/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [{ DATABASE_URL: "mysql://127.0.0.1/x" }, "DATABASE_URL"],
    [{ DATABASE_URL: "file:/proc/sandboxer/x.db" }, "DATABASE_URL: cannot create /proc/sandboxer"],
    [{ SANDBOXER_DATA_DIR: "/proc/sandboxer-data" }, "SANDBOXER_DATA_DIR: cannot create /proc/sandboxer-data"],
  ])("refuses to start with %j: one clear error, non-zero exit, nothing created", (bad, message) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sandboxer-bad-"));
    try {
      const r = runScript(["deploy"], { DATABASE_URL: `file:${dir}/data/x.db`, SANDBOXER_DATA_DIR: `${dir}/data`, ...bad });
      expect(r.code).toBe(1);
      expect(r.err.trim().split("\n")).toHaveLength(1);
      expect(r.err).toContain(message);
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the token scopes and expiry migration (issue 14)", () => {
  const MIGRATION = "token_scopes_and_expiry";

  /** Runs SQL against the test database (the same text on both providers). */
  async function sql(provider: string, url: string, file: string, text: string): Promise<Record<string, unknown>[]> {
    if (provider === "sqlite") {
      const d = new Database(file);
      try {
        return text.trim().toUpperCase().startsWith("SELECT") ? (d.prepare(text).all() as Record<string, unknown>[]) : (d.exec(text), []);
      } finally {
        d.close();
      }
    }
    const { default: pg } = await import("pg");
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return (await c.query(text)).rows as Record<string, unknown>[];
    } finally {
      await c.end();
    }
  }

  it.each(PROVIDERS)("keeps existing tokens working on %s: full scope, admins' tokens also admin, no expiry (legacy)", async (provider) => {
    const root = copyPrisma();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sandboxer-token-migration-"));
    const dbName = `sandboxer_tokmig_${process.pid}_${Date.now()}`;
    const file = path.join(dir, "data", "x.db");
    const url = provider === "sqlite" ? `file:${file}` : withDatabase(pgAdminUrl(), dbName);
    const folder = path.join(root, "prisma", provider === "sqlite" ? "sqlite" : "postgres", "migrations");
    const migration = fs.readdirSync(folder).find((d) => d.endsWith(`_${MIGRATION}`))!;
    const held = path.join(dir, migration);
    try {
      if (provider === "postgresql") await pgAdmin((c) => c.query(`CREATE DATABASE "${dbName}"`));
      // The database as the previous release left it: every migration but this one, and two tokens.
      fs.renameSync(path.join(folder, migration), held);
      const env = { DATABASE_URL: url, SANDBOXER_DATA_DIR: path.join(dir, "data") };
      const before = runScript(["deploy", "--root", root], env);
      expect(before.code, before.err).toBe(0);
      await sql(
        provider,
        url,
        file,
        `INSERT INTO "user" ("id", "name", "email", "emailVerified", "role", "createdAt", "updatedAt") VALUES
           ('u_admin', 'A', 'a@mig.test', false, 'admin', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
           ('u_member', 'M', 'm@mig.test', false, 'member', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);
         INSERT INTO "ApiToken" ("id", "userId", "name", "tokenHash", "prefix") VALUES
           ('tok_a', 'u_admin', 'old', 'hash-a', 'sbx_aaaaaa'),
           ('tok_m', 'u_member', 'old', 'hash-m', 'sbx_mmmmmm');`,
      );
      fs.renameSync(held, path.join(folder, migration));
      const after = runScript(["deploy", "--root", root], env);
      expect(after.code, after.err).toBe(0);
      expect(after.out).toMatch(/Applied 1 migration\(s\)/);
      const rows = await sql(provider, url, file, `SELECT "id", "scopes", "expiresAt" FROM "ApiToken" ORDER BY "id"`);
      expect(rows).toEqual([
        { id: "tok_a", scopes: "full admin", expiresAt: null },
        { id: "tok_m", scopes: "full", expiresAt: null },
      ]);
    } finally {
      if (provider === "postgresql") await pgAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`));
      fs.rmSync(root, { recursive: true, force: true });
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
