// The cleanup operation: the guarded removal of an orphan workspace an admin asked to clean up —
// exactly `<root>/sbx-<id>`, and only after checking again that no record accounts for it.
import "server-only";

import { deleteOrphan, findHost, toHostTarget } from "../../db/hosts";
import { findAccountingRecord } from "../../db/sandboxes";
import { ConflictError, NotFoundError, ValidationError } from "../../errors";
import { sshConfigForHost } from "../../extensions/remote/ssh-target";
import { WORKSPACE_PREFIX, isSandboxId } from "../../sandbox-id";
import { removeRemoteWorkspace } from "../../ssh";
import { audit, operationActor } from "../audit";
import type { ManagerContext } from "../context";
import { ACCOUNTED_STATUSES } from "../states";
import { failureCode, failureMessage, stopKind, type OperationHandler } from "./runtime";

export const runCleanup: OperationHandler = async (ctx, run) => {
  const { op } = run;
  const started = Date.now();
  try {
    const outcome = await run.withTimeout(ctx.config.destroyTimeoutMs, "cleanup", (signal) => cleanUpOrphanWorkspace(ctx, op, signal));
    run.log.info({ host: op.hostId, ms: Date.now() - started, outcome }, "cleanup done");
    await run.finish({ state: "succeeded", error: outcome });
  } catch (e) {
    if (stopKind(run.signal, e) === "lease-lost") return;
    const message = failureMessage(e);
    run.log.warn({ host: op.hostId, err: e }, "cleanup failed");
    await audit(ctx, {
      actor: await operationActor(ctx.db, op.actorId),
      action: "host.cleanup",
      target: op.hostId,
      result: "failed",
      message: `Clean-up on ${op.hostId} failed: ${message}`,
    });
    await run.finish({ state: "failed", errorCode: failureCode(e), error: message });
  }
};

async function cleanUpOrphanWorkspace(
  ctx: Pick<ManagerContext, "db" | "ssh" | "logger">,
  op: { hostId: string | null; payload: unknown; actorId: string | null },
  signal: AbortSignal,
): Promise<string> {
  const host = op.hostId ? await findHost(ctx.db, op.hostId) : null;
  if (!host) throw new NotFoundError("Host", op.hostId ?? "");
  const payload = (op.payload ?? {}) as { name?: unknown; root?: unknown };
  const name = String(payload.name ?? "");
  // The root the orphan was found under (a profile may set its own); older requests name only the workspace.
  const root = typeof payload.root === "string" ? payload.root : host.workspaceRoot;
  const id = name.slice(WORKSPACE_PREFIX.length);
  if (!name.startsWith(WORKSPACE_PREFIX) || !isSandboxId(id)) throw new ValidationError(`not a workspace name: ${JSON.stringify(name)}`);
  const claimed = await findAccountingRecord(ctx.db, id, ACCOUNTED_STATUSES);
  if (claimed) throw new ConflictError("WORKSPACE_CLAIMED", `Sandbox ${id} (${claimed.status}) now accounts for ${name}; not removing it`);
  const config = sshConfigForHost(ctx.ssh!, toHostTarget(host));
  const r = await removeRemoteWorkspace(ctx.ssh!.pool, config, root, id, { signal, timeoutMs: 10 * 60_000 });
  await deleteOrphan(ctx.db, host.id, name);
  await audit(ctx, {
    actor: await operationActor(ctx.db, op.actorId),
    action: "host.cleanup",
    target: r.path,
    result: "ok",
    message: r.result === "removed" ? `Removed orphan ${r.path} on ${host.title}` : `Orphan ${r.path} on ${host.title} was already gone`,
  });
  return r.result;
}
