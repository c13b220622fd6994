// Prepared statements kept for reuse on the embedded database. Prisma's better-sqlite3 adapter
// prepares every statement afresh (`client.prepare(sql).bind(args)` for each query), and SQLite's
// prepare — parsing and planning the SQL — was 30 % of the JavaScript a profile of the idle server
// sampled: the worker's poll runs the same few statements every second (docs/performance.md, "Server
// CPU per create"). Prisma's SQL is parameterised, so the same text comes back with other arguments:
// here each text is prepared once and kept (least recently used dropped beyond `max`), and
// `bind(args)` hands the arguments to each call instead of binding them to the statement for good.
//
// Only the calls the adapter makes are offered (bind → run / reader / columns / raw().all()); the
// adapter's version is pinned in package.json, and statement-cache.test.ts runs the real adapter
// through this, so a new adapter that calls anything else fails there, not in production.
import type { SqlDriverAdapterFactory } from "@prisma/driver-adapter-utils";
import type BetterSqlite3 from "better-sqlite3";

type Statement = BetterSqlite3.Statement<unknown[]>;

/** A statement with its arguments for one call (the adapter's `prepare(sql).bind(args)`). */
class BoundStatement {
  constructor(
    private readonly cached: CachedStatement,
    private readonly statement: Statement,
    private readonly args: unknown[],
  ) {}

  get reader(): boolean {
    return this.statement.reader;
  }

  run(): BetterSqlite3.RunResult {
    return this.statement.run(this.args);
  }

  columns(): BetterSqlite3.ColumnDefinition[] {
    return this.cached.columns();
  }

  all(): unknown[] {
    return this.statement.raw(false).all(this.args);
  }

  raw(on = true): { all(): unknown[] } {
    const statement = this.statement.raw(on);
    const args = this.args;
    return { all: () => statement.all(args) };
  }
}

/** What the cached `prepare` returns: the statement's own `run` (BEGIN), or `bind` for a call with arguments. */
class CachedStatement {
  /**
   * The result columns, asked once: the adapter asks for every query it reads, and better-sqlite3 builds
   * them anew each time (a profile of a create put it at ~1.5 ms of a ~50 ms create). A schema change
   * through this connection empties the cache (cachedPrepare), so a kept list never outlives its table.
   */
  private columnList: BetterSqlite3.ColumnDefinition[] | null = null;

  constructor(private readonly statement: Statement) {}

  bind(args: unknown[]): BoundStatement {
    return new BoundStatement(this, this.statement, args);
  }

  columns(): BetterSqlite3.ColumnDefinition[] {
    this.columnList ??= this.statement.columns();
    return this.columnList;
  }

  run(): BetterSqlite3.RunResult {
    return this.statement.run();
  }
}

/** Statements that change the schema: the cache is emptied when one is prepared (kept statements' columns may change). */
const SCHEMA_CHANGE = /^\s*(CREATE|ALTER|DROP)\b/i;

/**
 * `prepare` for one database connection, keeping up to `max` statements (least recently used dropped);
 * `clear()` forgets them all (the connection ran a script, which may have changed the schema).
 */
export function cachedPrepare(prepare: (sql: string) => Statement, max: number): ((sql: string) => CachedStatement) & { clear(): void } {
  const cache = new Map<string, CachedStatement>();
  const cached = (sql: string) => {
    if (SCHEMA_CHANGE.test(sql)) {
      cache.clear();
      return new CachedStatement(prepare(sql));
    }
    let hit = cache.get(sql);
    if (hit) {
      // Map keeps insertion order: move the hit to the end, so the first key is the least recently used.
      cache.delete(sql);
    } else {
      hit = new CachedStatement(prepare(sql));
      if (cache.size >= max) cache.delete(cache.keys().next().value!);
    }
    cache.set(sql, hit);
    return hit;
  };
  return Object.assign(cached, { clear: () => cache.clear() });
}

function isDatabase(x: unknown): x is BetterSqlite3.Database {
  return typeof x === "object" && x !== null && typeof (x as { prepare?: unknown }).prepare === "function" && "inTransaction" in x;
}

/** The better-sqlite3 connection Prisma's adapter holds (as `client`), or null where it holds none. */
export function adapterConnection(adapter: unknown): BetterSqlite3.Database | null {
  const client = (adapter as { client?: unknown }).client;
  return isDatabase(client) ? client : null;
}

/**
 * Wraps the better-sqlite3 adapter so its connection reuses prepared statements (the adapter and its
 * transactions share the connection, so both do). If the adapter holds no better-sqlite3 connection
 * where it is expected, it is left as it is (the test of this file says so).
 */
export function cacheStatements(factory: SqlDriverAdapterFactory, max = 200): SqlDriverAdapterFactory {
  return {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: async () => {
      const adapter = await factory.connect();
      const client = adapterConnection(adapter);
      if (client) {
        const prepare = cachedPrepare(client.prepare.bind(client) as (sql: string) => Statement, max);
        (client as unknown as { prepare: unknown }).prepare = prepare;
        // The adapter's executeScript (migrations, DDL) runs through exec: forget the kept statements.
        const exec = client.exec.bind(client);
        client.exec = (source: string) => {
          prepare.clear();
          return exec(source);
        };
      }
      return adapter;
    },
  };
}
