// The destroy operation: remove exactly what the stored handle names (idempotent — "already gone" is
// success), then `destroyed`; a failure moves the sandbox to `destroy_failed` with the reason, which a
// person may retry. Both ends are audited as the person who asked for the destroy.
import "server-only";

import { findSandboxRow } from "../../db/sandboxes";
import type { ErrorCode } from "../../error-codes";
import { isSandboxerError } from "../../errors";
import { operationActor } from "../audit";
import { extensionOf } from "../context";
import { LogWriter } from "../log-writer";
import { poolProfiles, requestRefill } from "../pools";
import { closeSessionsForDestroy } from "../ssh-sessions";
import { failureCode, failureMessage, stopKind, type OperationHandler } from "./runtime";

export const runDestroy: OperationHandler = async (ctx, run) => {
  const { op } = run;
  const sandboxId = op.sandboxId!;
  const sandbox = await findSandboxRow(ctx.db, sandboxId);
  if (!sandbox || sandbox.status === "destroyed") {
    await run.finish({ state: "succeeded" });
    return;
  }
  if (sandbox.status !== "destroying") {
    await run.finish({ state: "cancelled", error: `Sandbox is ${sandbox.status}, not destroying` });
    return;
  }
  const writer = new LogWriter(ctx.db, sandboxId, run.log, ctx.notifier);
  const actor = await operationActor(ctx.db, op.actorId);
  const fail = async (reason: string, code: ErrorCode | string) => {
    writer.log(`Destroy failed: ${reason}`, "error");
    await writer.flush();
    await run.end(
      {
        sandboxId,
        from: "destroying",
        to: "destroy_failed",
        set: { statusReason: reason },
        event: { message: `Destroy failed: ${reason}`, level: "error" },
        audit: {
          actor,
          action: "sandbox.teardown",
          target: sandboxId,
          result: "failed",
          message: `Teardown of ${sandboxId} failed: ${reason}`,
        },
      },
      { state: "failed", errorCode: code, error: reason },
    );
  };
  const ext = extensionOf(ctx, sandbox.extensionId);
  if (!ext) return fail(`Extension ${sandbox.extensionId} is not loaded on this server`, "EXTENSION_MISSING");
  if (op.attempt > op.maxAttempts) {
    return fail(
      `Gave up after ${op.maxAttempts} attempts: the worker running the destroy stopped responding each time; Retry when the cause is fixed`,
      "ATTEMPTS_EXHAUSTED",
    );
  }
  // People inside the sandbox through the SSH gateway are told and disconnected before the workspace goes.
  await closeSessionsForDestroy(ctx, sandboxId, actor.label, (line) => writer.log(line), { signal: run.signal });
  let detail = "Nothing to remove: create never recorded a handle";
  let teardown: string[] = [];
  if (sandbox.handle) {
    const handle = ext.handleSchema.safeParse(sandbox.handle);
    if (!handle.success) return fail(`The stored handle is not valid for ${ext.id}: ${handle.error.issues[0]?.message}`, "HANDLE_INVALID");
    teardown = ext.describeHandle(handle.data).teardown;
    writer.log(`Removing ${teardown.join("; ")}`);
    try {
      const res = await run.withTimeout(ctx.config.destroyTimeoutMs, "destroy", (signal) =>
        ext.destroy(handle.data, { sandboxId, signal, log: writer.log }),
      );
      detail = res.detail;
    } catch (e) {
      const stop = stopKind(run.signal, e);
      if (stop === "lease-lost") return;
      if (stop === "shutdown") return run.requeue(new Date());
      if (!isSandboxerError(e)) run.log.error({ err: e }, "destroy failed with an unexpected error");
      return fail(failureMessage(e), failureCode(e));
    }
  }
  writer.log(detail);
  await writer.flush();
  const r = await run.end(
    {
      sandboxId,
      from: "destroying",
      to: "destroyed",
      set: { destroyedAt: new Date(), statusReason: detail },
      event: { message: "Destroyed" },
      audit: {
        actor,
        action: "sandbox.teardown",
        target: sandboxId,
        result: "ok",
        message: `Teardown of ${sandboxId}: ${detail}`,
        data: { teardown },
      },
    },
    { state: "succeeded" },
  );
  if (!r.finished) run.log.warn("destroy finished but the lease was lost; the new owner records the result");
  else run.log.info({ detail }, "sandbox destroyed");
  // A slot came free: a warm pool may have been waiting for it.
  if (r.finished && sandbox.hostId && poolProfiles(ctx.catalog).length > 0) await requestRefill(ctx);
};
