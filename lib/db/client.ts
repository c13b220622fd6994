// The one Prisma client of the process. The provider comes from DATABASE_URL at run time:
// `file:` → SQLite (better-sqlite3, the embedded default), `postgres(ql):` → PostgreSQL (pg).
// Both generated clients have the same model API because both schemas link the same models file;
// tests run every repository on both (tests/integration/db-*.test.ts) to keep that true.
//
// Only the configured provider's client and adapter are loaded (dynamic imports): each generated
// client carries its own query compiler, and the benchmark measured the unused one as memory spent
// for nothing. So the process client is made once at start (`initDb()`, from instrumentation and the
// scripts) and `db()` hands it out synchronously afterwards.
import "server-only";

import type { SqlDriverAdapterFactory } from "@prisma/driver-adapter-utils";
import type BetterSqlite3 from "better-sqlite3";

import type { PrismaClient as SqliteClient } from "@/generated/sqlite/client";

import { env, type DatabaseConfig } from "../env";
import { adapterConnection, cacheStatements } from "./statement-cache";
import { sqliteBinding } from "./sqlite-binding";
import { guardStatusWrites } from "./status-guard";
import { processApplicationName } from "./wake";

export type Db = SqliteClient;
export type { Prisma } from "@/generated/sqlite/client";
/** Writes SQL NULL into a Json column (both generated clients share this runtime value). */
export { DbNull } from "@prisma/client/runtime/client";

/**
 * better-sqlite3 gives a client ONE connection. While a transaction is open on it, any other query
 * of the process would run inside that transaction (and vanish with its rollback). This wrapper makes
 * queries outside the transaction wait until it ends; the adapter already serialises transactions.
 */
export function serializeTransactions(factory: SqlDriverAdapterFactory): SqlDriverAdapterFactory {
  return {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: async () => {
      const adapter = await factory.connect();
      let openTx: Promise<void> | null = null;
      const waitForTx = async () => {
        while (openTx) await openTx;
      };
      const queryRaw = adapter.queryRaw.bind(adapter);
      const executeRaw = adapter.executeRaw.bind(adapter);
      const executeScript = adapter.executeScript.bind(adapter);
      const startTransaction = adapter.startTransaction.bind(adapter);
      adapter.queryRaw = async (q) => {
        await waitForTx();
        return queryRaw(q);
      };
      adapter.executeRaw = async (q) => {
        await waitForTx();
        return executeRaw(q);
      };
      adapter.executeScript = async (script) => {
        await waitForTx();
        return executeScript(script);
      };
      adapter.startTransaction = async (isolationLevel) => {
        const tx = await startTransaction(isolationLevel);
        let release!: () => void;
        openTx = new Promise<void>((r) => (release = r));
        const end = () => {
          openTx = null;
          release();
        };
        const commit = tx.commit.bind(tx);
        const rollback = tx.rollback.bind(tx);
        tx.commit = async () => {
          try {
            await commit();
          } finally {
            end();
          }
        };
        tx.rollback = async () => {
          try {
            await rollback();
          } finally {
            end();
          }
        };
        return tx;
      };
      return adapter;
    },
  };
}

/** Where a SQLite client's connection is kept once its adapter connects (keepConnection). */
interface ConnectionHolder {
  current: BetterSqlite3.Database | null;
}

/** Records the better-sqlite3 connection the adapter opens (each time it connects) in `holder`. */
function keepConnection(factory: SqlDriverAdapterFactory, holder: ConnectionHolder): SqlDriverAdapterFactory {
  return {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: async () => {
      const adapter = await factory.connect();
      holder.current = adapterConnection(adapter);
      return adapter;
    },
  };
}

const sqliteConnections = new WeakMap<object, ConnectionHolder>();

/**
 * The better-sqlite3 connection under a SQLite client made by createDb, once it has connected (its
 * first query), else null. For what Prisma cannot ask cheaply: lib/db/sqlite-wake.ts reads
 * `PRAGMA data_version` on it a few times a second. Nothing else should run statements on it.
 */
export function sqliteConnectionOf(db: object): BetterSqlite3.Database | null {
  const c = sqliteConnections.get(db)?.current ?? null;
  return c?.open ? c : null;
}

const statementCounter = globalThis as unknown as { __sandboxerDbStatements?: number };

/** SQL statements this process has sent (all clients), for the metrics and the idle-dashboard benchmark. */
export function dbStatementCount(): number {
  return statementCounter.__sandboxerDbStatements ?? 0;
}

/** Counts every statement a driver adapter runs, in and out of transactions. */
export function countStatements(factory: SqlDriverAdapterFactory): SqlDriverAdapterFactory {
  const bump = () => {
    statementCounter.__sandboxerDbStatements = (statementCounter.__sandboxerDbStatements ?? 0) + 1;
  };
  type Queryable = Pick<Awaited<ReturnType<SqlDriverAdapterFactory["connect"]>>, "queryRaw" | "executeRaw">;
  const wrap = <T extends Queryable>(q: T): T => {
    const queryRaw = q.queryRaw.bind(q);
    const executeRaw = q.executeRaw.bind(q);
    q.queryRaw = (query) => (bump(), queryRaw(query));
    q.executeRaw = (query) => (bump(), executeRaw(query));
    return q;
  };
  return {
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: async () => {
      const adapter = wrap(await factory.connect());
      const startTransaction = adapter.startTransaction.bind(adapter);
      adapter.startTransaction = async (isolationLevel) => wrap(await startTransaction(isolationLevel));
      return adapter;
    },
  };
}

/**
 * How long an interactive transaction may wait for a connection and run. Prisma's defaults (2 s to
 * start, 5 s to run) turned a busy minute — 20 creates beside 200 reads on two cores — into 500s
 * ("Unable to start a transaction in the given time", P2028) for requests that only had to queue.
 * Waiting is bounded by the request's own timeouts; failing loses the person's create.
 */
export const TRANSACTION_OPTIONS = { maxWait: 15_000, timeout: 30_000 } as const;

/**
 * Opens a client for a database. The caller owns it ($disconnect when done). `poolSize` bounds the
 * PostgreSQL connections this client opens (SANDBOXER_DB_POOL for the process; see the connection
 * budget in docs/operations.md); SQLite has one connection whatever it says.
 */
export async function createDb(config: DatabaseConfig, options: { poolSize?: number } = {}): Promise<Db> {
  if (config.provider === "sqlite") {
    const [{ PrismaClient }, { PrismaBetterSqlite3 }] = await Promise.all([
      import("@/generated/sqlite/client"),
      import("@prisma/adapter-better-sqlite3"),
    ]);
    // `timeout` is SQLite's busy timeout: a second process (the worker, the CLI's server) waits for
    // the write lock instead of failing at once.
    const holder: ConnectionHolder = { current: null };
    const adapter = serializeTransactions(
      countStatements(
        cacheStatements(keepConnection(new PrismaBetterSqlite3({ url: config.file, timeout: 10_000, ...sqliteBinding() }), holder)),
      ),
    );
    const client = guardStatusWrites(new PrismaClient({ adapter, transactionOptions: TRANSACTION_OPTIONS }));
    providers.set(client, "sqlite");
    sqliteConnections.set(client, holder);
    return client;
  }
  const [{ PrismaClient }, { PrismaPg }] = await Promise.all([import("@/generated/postgres/client"), import("@prisma/adapter-pg")]);
  // Idle connections close after 30 s, so a quiet instance holds fewer than its maximum.
  // application_name names the process in pg_stat_activity (who holds the connections), and in the
  // wake-up notifications its writes cause (lib/db/wake.ts: a process skips its own).
  const adapter = countStatements(
    new PrismaPg({
      connectionString: config.url,
      max: options.poolSize ?? 10,
      idleTimeoutMillis: 30_000,
      application_name: processApplicationName(),
    }),
  );
  const client = guardStatusWrites(new PrismaClient({ adapter, transactionOptions: TRANSACTION_OPTIONS })) as unknown as Db;
  providers.set(client, "postgresql");
  return client;
}

const providers = new WeakMap<object, DatabaseConfig["provider"]>();

/** Which database a client made by createDb talks to (undefined for anything else). */
export function providerOf(db: object): DatabaseConfig["provider"] | undefined {
  return providers.get(db);
}

/**
 * Per-connection settings for SQLite: WAL lets readers run beside the one writer (several
 * processes share the file), NORMAL sync is durable across process crashes in WAL mode.
 */
export async function tuneSqlite(db: Db): Promise<void> {
  await db.$queryRawUnsafe("PRAGMA journal_mode = WAL");
  await db.$queryRawUnsafe("PRAGMA synchronous = NORMAL");
  await db.$queryRawUnsafe("PRAGMA foreign_keys = ON");
}

const globalForDb = globalThis as unknown as { __sandboxerDb?: Db; __sandboxerDbInit?: Promise<Db> };

/** Creates the process's client from DATABASE_URL (once; later calls return the same). */
export function initDb(): Promise<Db> {
  globalForDb.__sandboxerDbInit ??= (async () => {
    const e = env();
    const config = e.database;
    const client = await createDb(config, { poolSize: e.SANDBOXER_DB_POOL });
    if (config.provider === "sqlite") await tuneSqlite(client);
    globalForDb.__sandboxerDb = client;
    return client;
  })();
  return globalForDb.__sandboxerDbInit;
}

/** The process's client (kept on globalThis so `next dev` reloads reuse it). */
export function db(): Db {
  if (!globalForDb.__sandboxerDb) {
    throw new Error("The database client is not ready: initDb() runs at server start (instrumentation) and in each script");
  }
  return globalForDb.__sandboxerDb;
}

/** The process's client, creating it if needed. */
export async function dbReady(): Promise<Db> {
  return initDb();
}
