// The audit trail: who did what to which target, and whether it was allowed. Every entry is made
// here — by `audit()` on its own, or by `auditEntry()` inside a transition's transaction — so every
// entry names its actor the same way (the person's e-mail, or "system (…)") and carries the source
// address when the request had one.
import "server-only";

import { actorUserId, type Actor } from "../auth/actor";
import type { Db, Prisma } from "../db/client";
import { appendEvents, type EventInput } from "../db/events";
import { userEmail } from "../db/users";
import type { Logger } from "../logger";

export type AuditResult = "ok" | "denied" | "failed";

/** Who an entry names: a person or the system, or someone not (yet) signed in (a failed sign-in). */
export type AuditActor = Actor | { kind: "anonymous"; label: string; ip?: string };

export interface AuditInput {
  actor: AuditActor;
  /** Dotted verb, e.g. "sandbox.destroy", "host.pin_key". */
  action: string;
  target: string | null;
  result: AuditResult;
  message: string;
  data?: Record<string, unknown>;
}

export function auditEntry(a: AuditInput): EventInput {
  return {
    type: "audit",
    sandboxId: null,
    action: a.action,
    target: a.target,
    result: a.result,
    message: a.message,
    actorId: a.actor.kind === "anonymous" ? null : actorUserId(a.actor),
    actorLabel: a.actor.label,
    sourceIp: a.actor.ip ?? null,
    data: a.data as Prisma.InputJsonValue | undefined,
  };
}

/** Writes an audit entry; never throws (auditing must not turn a success into an error). */
export async function audit(deps: { db: Db; logger: Logger }, a: AuditInput): Promise<void> {
  try {
    await appendEvents(deps.db, [auditEntry(a)]);
  } catch (e) {
    deps.logger.error({ err: e, action: a.action, target: a.target }, "could not write audit entry");
  }
}

/**
 * The actor of work a person asked for earlier and a worker does now (a teardown, a clean-up): the
 * operation records only the person's id, so their label is looked up once here.
 */
export async function operationActor(db: Db, actorId: string | null): Promise<Actor> {
  if (!actorId) return { kind: "system", label: "system" };
  const email = await userEmail(db, actorId);
  // The role does not matter for an audit entry; the person was authorised when they asked.
  return { kind: "user", userId: actorId, label: email ?? "system", role: "member" };
}
