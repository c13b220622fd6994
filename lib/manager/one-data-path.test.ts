// The manager's structural rules, checked over the source tree so that a change which breaks them
// fails here rather than in review:
// - only the transition function (and fixtures) may open the status-write scope of the database client;
// - lib/manager reaches the database only through lib/db functions (no model calls of its own);
// - audit entries are written only by lib/manager/audit.ts.
import fs from "node:fs";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { writesStatus } from "../db/status-guard";

const ROOT = path.resolve(__dirname, "../..");

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const d of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.join(dir, d.name);
    if (d.isDirectory()) {
      if (["node_modules", ".next", "generated"].includes(d.name)) continue;
      out.push(...sourceFiles(rel));
    } else if (/\.(ts|tsx|mjs)$/.test(d.name)) out.push(rel);
  }
  return out;
}

const ALL = ["app", "lib", "cli", "scripts", "bench", "tests", "e2e"].flatMap(sourceFiles);
const read = (f: string) => fs.readFileSync(path.join(ROOT, f), "utf8");

describe("status writes", () => {
  it("are allowed only to the transition function and to fixtures", () => {
    const users = ALL.filter((f) => f !== "lib/db/status-guard.ts" && !f.endsWith(".test.ts") && /\bwithStatusWrites\b/.test(read(f)));
    expect(users.sort()).toEqual(["lib/db/seed.ts", "lib/manager/transitions.ts", "tests/support/sandbox-rows.ts"]);
  });

  it("the row-level status writers are called only by the transition function", () => {
    const users = ALL.filter((f) => f !== "lib/db/sandboxes.ts" && /\b(moveSandboxRow|insertSandboxRow)\(/.test(read(f)));
    expect(users.sort()).toEqual(["lib/manager/transitions.ts"]);
  });

  it("the guard recognises every way Prisma can write a status", () => {
    expect(writesStatus("update", { where: { id: "x" }, data: { status: "ready" } })).toBe(true);
    expect(writesStatus("updateMany", { where: {}, data: { status: "ready" } })).toBe(true);
    expect(writesStatus("create", { data: { id: "x", status: "queued" } })).toBe(true);
    expect(writesStatus("createMany", { data: [{ id: "x" }, { id: "y", status: "queued" }] })).toBe(true);
    expect(writesStatus("upsert", { where: {}, create: {}, update: { status: "ready" } })).toBe(true);
    expect(writesStatus("upsert", { where: {}, create: { status: "ready" }, update: {} })).toBe(true);
    // Reads and writes of other columns, filters on status included, pass.
    expect(writesStatus("updateMany", { where: { status: "queued" }, data: { statusReason: "x" } })).toBe(false);
    expect(writesStatus("findMany", { where: { status: "queued" } })).toBe(false);
    expect(writesStatus("update", { where: { id: "x" }, data: { status: undefined, handle: {} } })).toBe(false);
  });
});

describe("one data path", () => {
  const MODEL_CALL =
    /\.(sandbox|operation|event|buildHost|user|apiToken|orphanWorkspace|worker|lease|session|account)\.(find\w*|create\w*|update\w*|upsert|delete\w*|count|groupBy|aggregate)\(/;

  it("lib/manager queries the database only through lib/db functions", () => {
    const offenders = ALL.filter((f) => f.startsWith("lib/manager/") && !f.endsWith(".test.ts") && MODEL_CALL.test(read(f)));
    expect(offenders).toEqual([]);
  });

  it("audit entries are written by lib/manager/audit.ts alone", () => {
    // lib/db/events.ts reads them (the audit page's query); nothing else names the type.
    const allowed = ["lib/manager/audit.ts", "lib/db/events.ts"];
    const offenders = ALL.filter(
      (f) => !f.startsWith("tests/") && !f.endsWith(".test.ts") && !allowed.includes(f) && /type:\s*"audit"/.test(read(f)),
    );
    expect(offenders).toEqual([]);
  });
});
