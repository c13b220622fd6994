// One server per embedded database, and a clear line when the port is taken. A second `npm start` on
// the same data directory used to wait ~11 s inside the migration engine and die with a WebAssembly
// error; now the migrate step (`db-migrate.ts deploy --serve`, run by npm start and npm run dev) checks
// first and says which resource is in use and what to do, and the server records itself in
// <SANDBOXER_DATA_DIR>/server.json while it runs. PostgreSQL deployments run several instances on
// purpose: only the embedded (SQLite) database is locked.
import fs from "node:fs";
import net from "node:net";
import path from "node:path";

import type { Env } from "./env";
import { ConfigError } from "./errors";

export interface ServerRecord {
  pid: number;
  url: string;
  startedAt: string;
}

export function serverRecordPath(env: Pick<Env, "dataDir">): string {
  return path.join(env.dataDir, "server.json");
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The running server recorded for this data directory, if its process is still alive. */
export function runningServer(env: Pick<Env, "dataDir">): ServerRecord | null {
  let record: ServerRecord;
  try {
    record = JSON.parse(fs.readFileSync(serverRecordPath(env), "utf8")) as ServerRecord;
  } catch {
    return null;
  }
  if (!Number.isSafeInteger(record.pid) || record.pid === process.pid || !alive(record.pid)) return null;
  return record;
}

/** Throws the one clear line when another server already runs on this embedded database. */
export function assertDatabaseFree(env: Pick<Env, "dataDir" | "database">): void {
  if (env.database.provider !== "sqlite") return;
  const other = runningServer(env);
  if (!other) return;
  throw new ConfigError(
    `the embedded database ${env.database.file} is in use by another sand-boxer server (pid ${other.pid}, ${other.url}): ` +
      `stop it first, or give this one its own data directory (SANDBOXER_DATA_DIR=./data-2 npm start)`,
  );
}

/** Throws the one clear line when host:port cannot be listened on. */
export async function assertPortFree(host: string, port: number): Promise<void> {
  const error = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
    const srv = net.createServer();
    srv.once("error", (e: NodeJS.ErrnoException) => resolve(e));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(null)));
  });
  if (!error) return;
  if (error.code === "EADDRINUSE") {
    throw new ConfigError(
      `port ${port} on ${host} is already in use (another sand-boxer, or another program): stop it, or start on another port (PORT=${port + 1} npm start)`,
    );
  }
  if (error.code === "EACCES")
    throw new ConfigError(`port ${port} on ${host} needs privileges this user does not have: use PORT above 1023`);
  if (error.code === "EADDRNOTAVAIL") throw new ConfigError(`HOST: ${host} is not an address of this machine`);
  throw new ConfigError(`cannot listen on ${host}:${port}: ${error.message}`);
}

/**
 * Records this process as the data directory's server (embedded database only) and removes the
 * record when it exits. Throws like assertDatabaseFree when another live server holds it.
 */
export function recordServer(env: Pick<Env, "dataDir" | "database" | "publicUrl">): void {
  if (env.database.provider !== "sqlite") return;
  assertDatabaseFree(env);
  const file = serverRecordPath(env);
  const record: ServerRecord = { pid: process.pid, url: env.publicUrl, startedAt: new Date().toISOString() };
  fs.writeFileSync(file, `${JSON.stringify(record)}\n`, { mode: 0o600 });
  process.once("exit", () => {
    try {
      const current = JSON.parse(fs.readFileSync(file, "utf8")) as ServerRecord;
      if (current.pid === process.pid) fs.rmSync(file, { force: true });
    } catch {
      // gone already
    }
  });
}
