import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { PrismaBetterSqlite3 } from "@prisma/adapter-better-sqlite3";
import type { ArgType, SqlDriverAdapter, SqlQuery } from "@prisma/driver-adapter-utils";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { cacheStatements, cachedPrepare } from "./statement-cache";

const INT: ArgType = { scalarType: "int", arity: "scalar" };
const TEXT: ArgType = { scalarType: "string", arity: "scalar" };
const query = (sql: string, args: unknown[] = [], argTypes: ArgType[] = args.map(() => INT)): SqlQuery => ({ sql, args, argTypes });

describe("prepared statements kept for reuse (the real better-sqlite3 adapter)", () => {
  let dir: string;
  let adapter: SqlDriverAdapter;
  let prepares: ReturnType<typeof vi.spyOn>;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-stmt-cache-"));
    prepares = vi.spyOn(Database.prototype, "prepare");
    adapter = await cacheStatements(new PrismaBetterSqlite3({ url: `file:${path.join(dir, "t.db")}` }), 3).connect();
    await adapter.executeScript("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)");
    prepares.mockClear();
  });

  afterEach(async () => {
    prepares.mockRestore();
    await adapter.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const preparedTexts = (): string[] => prepares.mock.calls.map((c: unknown[]) => c[0] as string);

  it("prepares a statement once and runs it with each call's own arguments", async () => {
    const insert = "INSERT INTO t (id, name) VALUES (?, ?)";
    for (const [id, name] of [
      [1, "one"],
      [2, "two"],
      [3, "three"],
    ] as const)
      expect(await adapter.executeRaw(query(insert, [id, name], [INT, TEXT]))).toBe(1);
    const select = "SELECT id, name FROM t WHERE id >= ? ORDER BY id";
    expect((await adapter.queryRaw(query(select, [2]))).rows).toEqual([
      [2, "two"],
      [3, "three"],
    ]);
    const again = await adapter.queryRaw(query(select, [3]));
    expect(again.columnNames).toEqual(["id", "name"]);
    expect(again.rows).toEqual([[3, "three"]]);
    expect(preparedTexts()).toEqual([insert, select]);
  });

  it("a statement that returns no rows through queryRaw still runs (the adapter's non-reader path)", async () => {
    const upsert = "INSERT INTO t (id, name) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name";
    await adapter.queryRaw(query(upsert, [7, "a"], [INT, TEXT]));
    await adapter.queryRaw(query(upsert, [7, "b"], [INT, TEXT]));
    expect((await adapter.queryRaw(query("SELECT name FROM t WHERE id = ?", [7]))).rows).toEqual([["b"]]);
    expect(preparedTexts().filter((s) => s === upsert)).toHaveLength(1);
  });

  it("transactions use the same statements, and a rollback undoes their writes", async () => {
    const insert = "INSERT INTO t (id, name) VALUES (?, ?)";
    const tx = await adapter.startTransaction();
    await tx.executeRaw(query(insert, [10, "in tx"], [INT, TEXT]));
    await tx.executeRaw(query("ROLLBACK"));
    await tx.rollback();
    const tx2 = await adapter.startTransaction();
    await tx2.executeRaw(query(insert, [11, "kept"], [INT, TEXT]));
    await tx2.executeRaw(query("COMMIT"));
    await tx2.commit();
    expect((await adapter.queryRaw(query("SELECT id FROM t ORDER BY id"))).rows).toEqual([[11]]);
    expect(preparedTexts().filter((s) => s === insert)).toHaveLength(1);
    expect(preparedTexts().filter((s) => s === "BEGIN")).toHaveLength(1);
  });

  it("keeps at most `max` statements, dropping the least recently used", async () => {
    const sql = (n: number) => `SELECT ${n} AS n`;
    for (const n of [1, 2, 3, 1, 4]) await adapter.queryRaw(query(sql(n))); // 1 used again, so 2 is dropped for 4
    await adapter.queryRaw(query(sql(1)));
    await adapter.queryRaw(query(sql(2)));
    expect(preparedTexts()).toEqual([sql(1), sql(2), sql(3), sql(4), sql(2)]);
  });

  it("asks a statement for its columns once, and a schema change (script or DDL) forgets what it kept", async () => {
    const columns = vi.spyOn(Object.getPrototypeOf(new Database(":memory:").prepare("SELECT 1")) as { columns(): unknown }, "columns");
    const select = "SELECT * FROM t WHERE id >= ?";
    await adapter.executeRaw(query("INSERT INTO t (id, name) VALUES (?, ?)", [1, "one"], [INT, TEXT]));
    for (let i = 0; i < 3; i++) expect((await adapter.queryRaw(query(select, [1]))).columnNames).toEqual(["id", "name"]);
    expect(columns).toHaveBeenCalledTimes(1);
    await adapter.executeScript("ALTER TABLE t ADD COLUMN size INTEGER");
    expect((await adapter.queryRaw(query(select, [1]))).columnNames).toEqual(["id", "name", "size"]);
    await adapter.executeRaw(query("ALTER TABLE t ADD COLUMN kind TEXT"));
    expect((await adapter.queryRaw(query(select, [1]))).columnNames).toEqual(["id", "name", "size", "kind"]);
    expect(columns).toHaveBeenCalledTimes(3);
    columns.mockRestore();
  });

  it("a constraint error leaves the statement usable", async () => {
    const insert = "INSERT INTO t (id, name) VALUES (?, ?)";
    await adapter.executeRaw(query(insert, [1, "one"], [INT, TEXT]));
    await expect(adapter.executeRaw(query(insert, [1, "again"], [INT, TEXT]))).rejects.toThrow();
    expect(await adapter.executeRaw(query(insert, [2, "two"], [INT, TEXT]))).toBe(1);
  });
});

describe("cachedPrepare", () => {
  it("bound calls do not leak raw mode into a later object-mode read", () => {
    const db = new Database(":memory:");
    const prepare = cachedPrepare((sql) => db.prepare(sql), 10);
    expect(prepare("SELECT 1 AS one").bind([]).raw().all()).toEqual([[1]]);
    expect(prepare("SELECT 1 AS one").bind([]).all()).toEqual([{ one: 1 }]);
    db.close();
  });
});
