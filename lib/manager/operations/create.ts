// The create operation: pick a host (or wait for one), move the sandbox to `creating`, let the
// extension build it (recording its handle before any side effect), then `ready` — or `failed` with a
// reason, after destroying whatever the recorded handle names. A retry after a dead worker first
// removes what the previous attempt left; past the attempt limit it only cleans up and fails.
import "server-only";

import { isDeepStrictEqual } from "node:util";

import { DbNull, type Prisma } from "../../db/client";
import { bindSandboxMachine, findSandboxRow, setQueuedReason, storeHandle } from "../../db/sandboxes";
import { formatDuration } from "../../duration";
import type { AnyExtension } from "../../extensions/catalog";
import type { ErrorCode } from "../../error-codes";
import { hasCode, isSandboxerError, SandboxerError } from "../../errors";
import { evictableMember } from "../../db/pools";
import { metrics } from "../../metrics";
import { SYSTEM_ACTOR } from "../../auth/actor";
import { extensionOf, type ManagerContext } from "../context";
import { pickHost } from "../host-picker";
import { imageMismatch, resolveImageRequirement } from "../images";
import { requestRefill, retireMember } from "../pools";
import { LogWriter } from "../log-writer";
import { parseStatus, type SandboxStatus } from "../states";
import { LeaseLost, failureCode, failureMessage, stopKind, type OperationHandler, type OperationRun } from "./runtime";

export const runCreate: OperationHandler = async (ctx, run) => {
  const { op } = run;
  const sandboxId = op.sandboxId!;
  const sandbox = await findSandboxRow(ctx.db, sandboxId);
  const status = sandbox ? parseStatus(sandbox.status) : null;
  if (!sandbox || (status !== "queued" && status !== "creating")) {
    await run.finish({ state: "cancelled", error: `Sandbox is ${sandbox?.status ?? "gone"}` });
    return;
  }
  const writer = new LogWriter(ctx.db, sandboxId, run.log, ctx.notifier);
  /** A warm-pool member: ends in `pooled` (its workspace verified) instead of `ready`. */
  const member = sandbox.poolKey !== null;
  const fail = (reason: string, code: ErrorCode | string = "CREATE_FAILED", from: SandboxStatus = status) =>
    failCreate(run, from, reason, writer, code);
  const ext = extensionOf(ctx, sandbox.extensionId);
  if (!ext) return fail(`Extension ${sandbox.extensionId} is not loaded on this server (check its manifest)`);
  const params = ext.paramsSchema.safeParse(sandbox.params);
  if (!params.success) return fail(`Stored params no longer match ${ext.id}'s schema: ${params.error.issues[0]?.message}`);

  // A machine-local workspace (ext.local) lives where this worker runs: record the machine before any
  // side effect, so a retry, a destroy and the checks run only there.
  if (ext.machineLocal && ctx.config.machineId) {
    if (!(await bindSandboxMachine(ctx.db, sandboxId, ctx.config.machineId))) {
      await run.requeue(new Date(Date.now() + ctx.config.capacityRetryMs));
      return;
    }
    if (!sandbox.machineId) writer.log(`Bound to machine ${ctx.config.machineId}: its workspace lives there`);
  }

  // Past the attempt limit (workers kept dying): clean up what exists and fail with the reason.
  if (op.attempt > op.maxAttempts) {
    const cleanup = sandbox.handle ? await cleanUp(ctx, run, ext, sandbox.handle, writer, run.signal) : null;
    return fail(
      `Gave up after ${op.maxAttempts} attempts: the worker running the create stopped responding each time${cleanupNote(cleanup)}`,
      "ATTEMPTS_EXHAUSTED",
    );
  }

  // A warm-pool member claimed for other params (another git ref): move it on its VM; if that fails
  // for any reason but the target missing, remove it and create afresh below. Only on the first
  // attempt — a retry after a dead worker removes the half-moved workspace and creates afresh.
  let handle = sandbox.handle;
  const moveFrom = (op.payload as { moveFrom?: unknown } | null)?.moveFrom;
  if (moveFrom !== undefined && status === "creating" && handle && op.attempt === 1) {
    const outcome = await moveMember(ctx, run, ext, { handle, moveFrom, to: params.data }, writer);
    if (outcome === "done") return;
    handle = null;
  }

  // A retry after a worker died: remove what the previous attempt left, then start from scratch.
  if (status === "creating" && handle) {
    writer.log(`Attempt ${op.attempt}: cleaning up what the previous attempt left`, "warn");
    const cleanup = await cleanUp(ctx, run, ext, sandbox.handle, writer, run.signal);
    if (cleanup) return fail(`Could not clean up the previous attempt: ${cleanup}`, "CREATE_FAILED", "creating");
    await storeHandle(ctx.db, sandboxId, op.id, DbNull);
  }

  let host = null;
  const requirement = ext.hostRequirement(params.data);
  if (requirement) {
    // A profile may require an image (name + version or channel): only hosts whose marker names it fit.
    const imageReq = ctx.catalog.profiles.find((p) => p.id === sandbox.profileId)?.spec?.image;
    const picked = await pickHost(ctx.db, sandboxId, op.id, requirement, status === "creating" ? sandbox.hostId : null, {
      minFreeBytes: ctx.config.minFreeBytes,
      imageMismatch: imageReq ? imageMismatch(await resolveImageRequirement(ctx, imageReq)) : undefined,
      pool: member
        ? { kind: "member", perHost: ctx.config.poolRefillPerHost }
        : {
            kind: "person",
            evict: async (hostId) => {
              const victim = await evictableMember(ctx.db, hostId);
              if (!victim) return false;
              const reason = `Evicted from the warm pool: a person's create (${sandboxId}) needed its slot`;
              const moved = await retireMember(ctx, victim.id, parseStatus(victim.status), reason);
              if (moved) writer.log(`${hostId} was full with warm-pool members: evicted ${victim.id}`);
              return moved;
            },
          },
    });
    if (picked.kind === "none") return fail(picked.reason);
    // A member never waits for capacity (the refill only queues what fits; this is a race): it gives its slot back.
    if (picked.kind === "wait" && member && picked.full) return fail(`No room for a warm-pool member: ${picked.reason}`);
    if (picked.kind === "wait") {
      const waited = Date.now() - sandbox.createdAt.getTime();
      if (waited > ctx.config.queueTimeoutMs) {
        return fail(
          `${picked.reason.replace(/^Waiting for (a host|capacity): /, "")} — gave up after ${formatDuration(waited)} in the queue (SANDBOXER_QUEUE_TIMEOUT)`,
          "QUEUE_TIMEOUT",
        );
      }
      if (sandbox.statusReason !== picked.reason) {
        await setQueuedReason(ctx.db, sandboxId, picked.reason);
        writer.log(picked.reason, "warn");
      }
      await writer.flush();
      await run.requeue(new Date(Date.now() + ctx.config.capacityRetryMs));
      return;
    }
    host = picked.host;
    writer.log(picked.reason);
  }

  if (status === "queued") {
    const moved = await run.move({
      sandboxId,
      from: "queued",
      to: "creating",
      set: { statusReason: null },
      event: { message: host ? `Creating on ${host.title} (${host.address}:${host.port})` : "Creating" },
    });
    if (!moved) {
      await run.finish({ state: "cancelled", error: "Sandbox left the queue (destroy requested)" });
      return;
    }
  }

  // Null here: a queued sandbox has no handle yet, and a retry just removed its predecessor's.
  let lastHandle: unknown = null;
  const recordHandle = async (handle: { extension: string }) => {
    const parsed = ext.handleSchema.parse(handle);
    if (!(await storeHandle(ctx.db, sandboxId, op.id, parsed as Prisma.InputJsonValue))) throw new LeaseLost();
    lastHandle = parsed;
  };

  const started = Date.now();
  try {
    const handle = await run.withTimeout(ctx.config.createTimeoutMs, "create", (signal) =>
      ext.create({ sandboxId, params: params.data, host, signal, log: writer.log, recordHandle }),
    );
    const parsed = ext.handleSchema.parse(handle);
    if (member) {
      // Never pooled unless the workspace is there: the extension's own status check, as reconciliation does.
      const report = await run.withTimeout(60_000, "verify", (signal) => ext.status(parsed, { sandboxId, signal, log: writer.log }));
      if (report.state !== "ready") {
        throw new SandboxerError(
          "POOL_MEMBER_UNVERIFIED",
          `The new pool member's workspace did not check out: ${report.state} (${report.detail})`,
        );
      }
    }
    writer.log(`${member ? "Pooled" : "Ready"} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    await writer.flush();
    // Most extensions return the handle they recorded before their first side effect: no second write.
    if (!isDeepStrictEqual(parsed, lastHandle)) await storeHandle(ctx.db, sandboxId, op.id, parsed as Prisma.InputJsonValue);
    const r = await run.end(
      {
        sandboxId,
        from: "creating",
        to: member ? "pooled" : "ready",
        set: { readyAt: new Date(), statusReason: null },
        event: { message: member ? "Ready in the warm pool (workspace verified)" : "Ready" },
      },
      (moved) => (moved ? { state: "succeeded" } : { state: "cancelled", error: "Destroy requested during create" }),
    );
    run.log.info({ ms: Date.now() - started }, r.moved ? "sandbox ready" : "create finished after destroy was requested");
    if (member) {
      metrics().poolRefillSeconds.observe({ profile: sandbox.profileId, result: "pooled" }, (Date.now() - started) / 1000);
      await requestRefill(ctx);
    }
  } catch (e) {
    switch (stopKind(run.signal, e)) {
      case "lease-lost":
        run.log.warn("lease lost during create; leaving the operation to its new owner");
        return;
      case "cancelled":
        writer.log("Create cancelled: a destroy was requested", "warn");
        await writer.flush();
        await run.finish({ state: "cancelled", error: "Cancelled by destroy" });
        return;
      case "shutdown":
        writer.log("Worker shutting down; another worker will retry this create", "warn");
        await writer.flush();
        await run.requeue(new Date());
        return;
      case "failed": {
        const message = failureMessage(e);
        writer.log(`Create failed: ${message}`, "error");
        if (!isSandboxerError(e)) run.log.error({ err: e }, "create failed with an unexpected error");
        let cleanup: string | null = null;
        if (lastHandle) {
          writer.log("Cleaning up what was created");
          // The create's own signal is aborted (or timed out) here: the cleanup only stops for shutdown.
          cleanup = await cleanUp(ctx, run, ext, lastHandle, writer, run.shutdownSignal);
        }
        await failCreate(run, "creating", `${message}${cleanupNote(cleanup, " too")}`, writer, failureCode(e));
        if (member) metrics().poolRefillSeconds.observe({ profile: sandbox.profileId, result: "failed" }, (Date.now() - started) / 1000);
      }
    }
  }
};

/**
 * Moves a claimed warm-pool member to the create's params on its VM (`ext.move`) and ends the create
 * `ready` ("done"). A target that does not exist fails the create with the reason, after removing the
 * workspace ("done"); any other failure removes the workspace and clears the handle, and the caller
 * creates the sandbox afresh ("fresh"). A destroy, a lost lease or a shutdown end it as a create would.
 */
async function moveMember(
  ctx: ManagerContext,
  run: OperationRun,
  ext: AnyExtension,
  m: { handle: unknown; moveFrom: unknown; to: unknown },
  writer: LogWriter,
): Promise<"done" | "fresh"> {
  const sandboxId = run.op.sandboxId!;
  const from = ext.paramsSchema.safeParse(m.moveFrom);
  const handle = ext.handleSchema.safeParse(m.handle);
  const started = Date.now();
  let reason: string;
  if (!from.success || !handle.success || !ext.canMove(from.data, m.to)) {
    reason = `${ext.id} cannot move this member to the requested params`;
  } else {
    try {
      await run.withTimeout(ctx.config.createTimeoutMs, "move", (signal) =>
        ext.move({ sandboxId, handle: handle.data, from: from.data, to: m.to, signal, log: writer.log }),
      );
      writer.log(`Ready in ${((Date.now() - started) / 1000).toFixed(1)} s (a warm-pool member, moved)`);
      await writer.flush();
      const r = await run.end(
        {
          sandboxId,
          from: "creating",
          to: "ready",
          set: { readyAt: new Date(), statusReason: null },
          event: { message: "Ready (a warm-pool member moved to the requested ref)" },
        },
        (moved) => (moved ? { state: "succeeded" } : { state: "cancelled", error: "Destroy requested during create" }),
      );
      run.log.info(
        { ms: Date.now() - started },
        r.moved ? "pool member moved, sandbox ready" : "move finished after destroy was requested",
      );
      return "done";
    } catch (e) {
      switch (stopKind(run.signal, e)) {
        case "lease-lost":
          run.log.warn("lease lost during a pool member's move; leaving the operation to its new owner");
          return "done";
        case "cancelled":
          writer.log("Create cancelled: a destroy was requested", "warn");
          await writer.flush();
          await run.finish({ state: "cancelled", error: "Cancelled by destroy" });
          return "done";
        case "shutdown":
          writer.log("Worker shutting down; another worker will retry this create", "warn");
          await writer.flush();
          await run.requeue(new Date());
          return "done";
        case "failed":
          reason = failureMessage(e);
          if (hasCode(e, "POOL_MOVE_TARGET_MISSING")) {
            writer.log(`Create failed: ${reason}`, "error");
            const cleanup = await cleanUp(ctx, run, ext, m.handle, writer, run.shutdownSignal);
            await failCreate(run, "creating", `${reason}${cleanupNote(cleanup)}`, writer, "POOL_MOVE_TARGET_MISSING");
            return "done";
          }
      }
    }
  }
  writer.log(`Could not move the warm-pool member (${reason}); creating it afresh`, "warn");
  const cleanup = await cleanUp(ctx, run, ext, m.handle, writer, run.shutdownSignal);
  if (cleanup) {
    await failCreate(run, "creating", `Could not move the warm-pool member (${reason}) nor remove it: ${cleanup}`, writer, "CREATE_FAILED");
    return "done";
  }
  await storeHandle(ctx.db, sandboxId, run.op.id, DbNull);
  return "fresh";
}

/**
 * Destroys what a recorded handle names (bounded by the destroy timeout), logging the outcome.
 * Returns null on success, or the reason it failed.
 */
async function cleanUp(
  ctx: Pick<ManagerContext, "config">,
  run: OperationRun,
  ext: AnyExtension,
  handle: unknown,
  writer: LogWriter,
  signal: AbortSignal,
): Promise<string | null> {
  const sandboxId = run.op.sandboxId!;
  try {
    const res = await run.withTimeout(
      ctx.config.destroyTimeoutMs,
      "cleanup",
      (s) => ext.destroy(ext.handleSchema.parse(handle), { sandboxId, signal: s, log: writer.log }),
      signal,
    );
    writer.log(res.detail);
    return null;
  } catch (e) {
    const reason = failureMessage(e);
    writer.log(`Cleanup failed: ${reason}`, "error");
    return reason;
  }
}

async function failCreate(run: OperationRun, from: SandboxStatus, reason: string, writer: LogWriter, code: string): Promise<void> {
  const sandboxId = run.op.sandboxId!;
  await writer.flush();
  await run.end(
    {
      sandboxId,
      from,
      to: "failed",
      set: { statusReason: reason },
      event: { message: `Failed: ${reason}`, level: "error" },
      audit: {
        actor: SYSTEM_ACTOR,
        action: "sandbox.create",
        target: sandboxId,
        result: "failed",
        message: `Create of ${sandboxId} failed: ${reason}`,
      },
    },
    { state: "failed", errorCode: code, error: reason },
  );
}

/** The tail of a failure reason when the cleanup after it failed as well. */
function cleanupNote(cleanupFailure: string | null, also = ""): string {
  return cleanupFailure ? `; cleanup failed${also}: ${cleanupFailure} (destroy the sandbox to retry)` : "";
}
