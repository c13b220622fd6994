// SSH gateway sessions as the manager exposes them: the open and recent sessions of a sandbox (the
// sandbox page, the API), an admin ending one (on whichever instance holds it: a close request in the
// database that the holding gateway picks up within a second), and a destroy closing them all with
// a message before the workspace goes.
import "server-only";

import type { Actor } from "../auth/actor";
import { can } from "../auth/policy";
import { countOpenSshSessions, findSshSession, recentSshSessionsOf, requestSshSessionClose, type SshSessionRow } from "../db/ssh-sessions";
import { ForbiddenError, NotFoundError } from "../errors";
import { audit } from "./audit";
import type { ManagerContext } from "./context";

export interface SshSessionView {
  id: string;
  sandboxId: string;
  user: string;
  keyFingerprint: string;
  sourceIp: string;
  instanceId: string;
  kind: string;
  startedAt: string;
  endedAt: string | null;
  bytesIn: number;
  bytesOut: number;
  exitCode: number | null;
  exitSignal: string | null;
  endReason: string | null;
  closeRequested: boolean;
}

export function toSshSessionView(r: SshSessionRow): SshSessionView {
  return {
    id: r.id,
    sandboxId: r.sandboxId,
    user: r.userLabel,
    keyFingerprint: r.keyFingerprint,
    sourceIp: r.sourceIp,
    instanceId: r.instanceId,
    kind: r.kind,
    startedAt: r.startedAt.toISOString(),
    endedAt: r.endedAt?.toISOString() ?? null,
    bytesIn: Number(r.bytesIn),
    bytesOut: Number(r.bytesOut),
    exitCode: r.exitCode,
    exitSignal: r.exitSignal,
    endReason: r.endReason,
    closeRequested: r.closeRequestedAt !== null,
  };
}

/** The sandbox's sessions, newest first (open ones and the latest ended ones). */
export async function sandboxSshSessions(ctx: Pick<ManagerContext, "db">, sandboxId: string): Promise<SshSessionView[]> {
  return (await recentSshSessionsOf(ctx.db, sandboxId, 20)).map(toSshSessionView);
}

/** An admin ends a session (on any instance). Audited. */
export async function endSshSessionAsAdmin(
  ctx: Pick<ManagerContext, "db" | "logger">,
  actor: Actor,
  sessionId: string,
): Promise<SshSessionView> {
  const row = await findSshSession(ctx.db, sessionId);
  if (!row) throw new NotFoundError("SSH session", sessionId);
  if (!can(actor, "sandbox.destroy_any")) {
    await audit(ctx, {
      actor,
      action: "ssh_session.end",
      target: row.sandboxId,
      result: "denied",
      message: `Not allowed to end session ${sessionId}`,
    });
    throw new ForbiddenError("Only admins end other people's SSH sessions");
  }
  if (row.endedAt === null) {
    await requestSshSessionClose(ctx.db, { id: sessionId }, `this session was ended by ${actor.label}`);
    await audit(ctx, {
      actor,
      action: "ssh_session.end",
      target: row.sandboxId,
      result: "ok",
      message: `SSH session ${sessionId} of ${row.userLabel} (from ${row.sourceIp}) ended`,
      data: { session: sessionId, instance: row.instanceId },
    });
  }
  return toSshSessionView((await findSshSession(ctx.db, sessionId)) ?? row);
}

/**
 * Before a destroy removes the workspace: asks every open session into the sandbox to close (the
 * person sees why) and waits up to `waitMs` for them to end. Returns how many were still open after.
 */
export async function closeSessionsForDestroy(
  ctx: Pick<ManagerContext, "db">,
  sandboxId: string,
  by: string,
  log: (line: string) => void,
  opts: { waitMs?: number; pollMs?: number; signal?: AbortSignal } = {},
): Promise<number> {
  let open = await countOpenSshSessions(ctx.db, sandboxId);
  if (open === 0) return 0;
  await requestSshSessionClose(ctx.db, { sandboxId }, `sandbox ${sandboxId} is being destroyed (by ${by}); this session is closed`);
  const waitMs = opts.waitMs ?? 10_000;
  log(`Closing ${open} open SSH session${open === 1 ? "" : "s"} (waiting up to ${Math.round(waitMs / 1000)} s)`);
  const deadline = Date.now() + waitMs;
  while (open > 0 && Date.now() < deadline && !opts.signal?.aborted) {
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 200));
    open = await countOpenSshSessions(ctx.db, sandboxId);
  }
  if (open > 0)
    log(
      `${open} SSH session${open === 1 ? " is" : "s are"} still open after ${Math.round(waitMs / 1000)} s; removing the workspace anyway`,
    );
  return open;
}
