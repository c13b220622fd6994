// Enforces "every status change goes through the transition function" at the database client: a
// write that sets Sandbox.status is refused unless it runs inside `withStatusWrites`, which only
// lib/manager/transitions.ts calls (and, for fixtures, lib/db/seed.ts and tests/support; a unit test
// checks that no other module imports it). A raw `db.sandbox.update({ data: { status } })` anywhere
// else fails loudly in tests instead of silently skipping the table, the state event and the lock.
import "server-only";

import { AsyncLocalStorage } from "node:async_hooks";

// One scope per process, on globalThis: Next.js bundles instrumentation (which creates the database
// client, and so installs the guard) and the route handlers (which call transition()) separately, and a
// module-level scope would be two different objects — every create through the API was refused.
const globalForGuard = globalThis as unknown as { __sandboxerStatusScope?: AsyncLocalStorage<true> };
const scope = (globalForGuard.__sandboxerStatusScope ??= new AsyncLocalStorage<true>());

/** Runs `fn` with status writes allowed (for the transition function; see the header). */
export function withStatusWrites<T>(fn: () => PromiseLike<T>): Promise<T> {
  // Awaited inside the scope: Prisma's queries are lazy and run when first awaited, which must happen
  // while the scope is active.
  return scope.run(true, async () => await fn());
}

/** Thrown (as a programming error) when a module writes Sandbox.status outside the transition function. */
export class StatusWriteRefused extends Error {
  constructor(operation: string) {
    super(
      `sandbox.${operation} writes status outside the transition function; every status change goes through ` +
        "transition() in lib/manager/transitions.ts (it checks the move, writes its state event and ends the operation)",
    );
    this.name = "StatusWriteRefused";
  }
}

const WRITES = new Set(["create", "createMany", "createManyAndReturn", "update", "updateMany", "updateManyAndReturn", "upsert"]);

function setsStatus(data: unknown): boolean {
  if (Array.isArray(data)) return data.some(setsStatus);
  return typeof data === "object" && data !== null && "status" in data && (data as { status?: unknown }).status !== undefined;
}

/** Whether a sandbox model operation with these args would write `status`. */
export function writesStatus(operation: string, args: unknown): boolean {
  if (!WRITES.has(operation) || typeof args !== "object" || args === null) return false;
  const a = args as { data?: unknown; create?: unknown; update?: unknown };
  return setsStatus(a.data) || setsStatus(a.create) || setsStatus(a.update);
}

interface Extendable {
  $extends(extension: {
    query: {
      sandbox: {
        $allOperations(params: { operation: string; args: unknown; query: (args: unknown) => Promise<unknown> }): Promise<unknown>;
      };
    };
  }): unknown;
}

/**
 * The client with the guard installed on the Sandbox model (both providers' clients). A query
 * extension adds no methods and changes no result types; the extended client only lacks `$on` (log
 * events, which this project never subscribes to), so it keeps the base client's type.
 */
export function guardStatusWrites<T extends Extendable>(client: T): T {
  return client.$extends({
    query: {
      sandbox: {
        async $allOperations({ operation, args, query }) {
          if (writesStatus(operation, args) && scope.getStore() !== true) throw new StatusWriteRefused(operation);
          return query(args);
        },
      },
    },
  }) as T;
}
