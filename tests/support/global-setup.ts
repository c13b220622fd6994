// Integration-suite global setup: migrates one SQLite template file and one PostgreSQL template
// database (each test file copies its own from them), and removes both at the end.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import type { TestProject } from "vitest/node";

import { applyMigrations } from "@/lib/db/migrations";

import { pgAdmin, pgAdminUrl, withDatabase } from "./databases";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sandboxer-test-template-"));
  const sqliteFile = path.join(dir, "template.db");
  await applyMigrations({ provider: "sqlite", url: `file:${sqliteFile}`, file: sqliteFile });

  const postgresTemplate = `sandboxer_test_template_${process.pid}_${Date.now()}`;
  await pgAdmin((c) => c.query(`CREATE DATABASE "${postgresTemplate}"`));
  await applyMigrations({ provider: "postgresql", url: withDatabase(pgAdminUrl(), postgresTemplate) });

  project.provide("dbTemplates", { sqliteFile, postgresTemplate });

  return async () => {
    await pgAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${postgresTemplate}" WITH (FORCE)`)).catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  };
}
