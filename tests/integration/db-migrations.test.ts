// The migration tooling and start-up checks, run as a person would run them (child processes).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { REPO_ROOT } from "../support/app-server";

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
