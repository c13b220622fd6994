// Test fixtures that write sandbox rows directly — the state another process (a dead worker, a
// hand-edited database) left behind — on purpose bypassing the transition function. Production code
// cannot do this: the database client refuses status writes outside lib/manager/transitions.ts
// (lib/db/status-guard.ts); tests/support is the one other place allowed to.
import type { Db, Prisma } from "@/lib/db/client";
import { withStatusWrites } from "@/lib/db/status-guard";
import { newSandboxId } from "@/lib/sandbox-id";

/** Inserts a sandbox row as it stands (any status). */
export async function plantSandboxRow(db: Db, data: Prisma.SandboxUncheckedCreateInput): Promise<void> {
  await withStatusWrites(() => db.sandbox.create({ data }));
}

/** A `ready` local sandbox row of `ownerId`'s with nothing behind it (for tests of what its events wake); its id. */
export async function plantReadySandbox(db: Db, ownerId: string): Promise<string> {
  const id = newSandboxId();
  await plantSandboxRow(db, { id, profileId: "p", extensionId: "ext.local", status: "ready", ownerId, params: {}, input: {} });
  return id;
}

/** Overwrites columns of a sandbox row (status included) as another process would have left them. */
export async function overwriteSandboxRow(db: Db, id: string, data: Prisma.SandboxUncheckedUpdateInput): Promise<void> {
  await withStatusWrites(() => db.sandbox.update({ where: { id }, data }));
}
