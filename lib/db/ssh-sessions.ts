// The SSH gateway's records: one row per connection into a sandbox (who, which key, from where, on
// which instance, bytes each way, how it ended), close requests that any instance may write and the
// holding instance picks up, the gateways' fingerprints (instances behind one address compare them),
// and the sandbox's latest session activity.
import "server-only";

import crypto from "node:crypto";

import type { Db } from "./client";

export interface SshSessionRow {
  id: string;
  sandboxId: string;
  userId: string;
  userLabel: string;
  keyFingerprint: string;
  sourceIp: string;
  instanceId: string;
  kind: string;
  startedAt: Date;
  endedAt: Date | null;
  bytesIn: bigint;
  bytesOut: bigint;
  exitCode: number | null;
  exitSignal: string | null;
  endReason: string | null;
  closeRequestedAt: Date | null;
  closeRequestedBy: string | null;
}

export function newSessionId(): string {
  return `ses_${crypto.randomUUID().replace(/-/g, "").slice(0, 16)}`;
}

export async function insertSshSession(
  db: Db,
  row: Pick<SshSessionRow, "id" | "sandboxId" | "userId" | "userLabel" | "keyFingerprint" | "sourceIp" | "instanceId">,
  now = new Date(),
): Promise<void> {
  await db.$transaction([
    db.sshSession.create({ data: { ...row, startedAt: now } }),
    db.sandbox.updateMany({ where: { id: row.sandboxId }, data: { sessionActivityAt: now } }),
  ]);
}

/** Progress of an open session (bytes so far, what it runs) and the sandbox's latest activity. */
export async function updateSshSession(
  db: Db,
  id: string,
  sandboxId: string,
  data: { bytesIn: bigint; bytesOut: bigint; kind: string },
  now = new Date(),
): Promise<void> {
  await db.$transaction([
    db.sshSession.updateMany({ where: { id, endedAt: null }, data }),
    db.sandbox.updateMany({ where: { id: sandboxId }, data: { sessionActivityAt: now } }),
  ]);
}

export async function endSshSession(
  db: Db,
  id: string,
  sandboxId: string,
  data: { bytesIn: bigint; bytesOut: bigint; kind: string; exitCode: number | null; exitSignal: string | null; endReason: string },
  now = new Date(),
): Promise<void> {
  await db.$transaction([
    db.sshSession.updateMany({ where: { id, endedAt: null }, data: { ...data, endedAt: now } }),
    db.sandbox.updateMany({ where: { id: sandboxId }, data: { sessionActivityAt: now } }),
  ]);
}

export async function findSshSession(db: Db, id: string): Promise<SshSessionRow | null> {
  return db.sshSession.findUnique({ where: { id } });
}

export async function openSshSessionsOf(db: Db, sandboxId: string): Promise<SshSessionRow[]> {
  return db.sshSession.findMany({ where: { sandboxId, endedAt: null }, orderBy: { startedAt: "asc" } });
}

export async function recentSshSessionsOf(db: Db, sandboxId: string, take = 20): Promise<SshSessionRow[]> {
  return db.sshSession.findMany({ where: { sandboxId }, orderBy: { startedAt: "desc" }, take });
}

/** Asks the instance holding the session(s) to end them; returns how many open sessions were asked. */
export async function requestSshSessionClose(
  db: Db,
  where: { id: string } | { sandboxId: string },
  by: string,
  now = new Date(),
): Promise<number> {
  const r = await db.sshSession.updateMany({
    where: { ...where, endedAt: null, closeRequestedAt: null },
    data: { closeRequestedAt: now, closeRequestedBy: by },
  });
  return r.count;
}

/** Open sessions of this instance that someone asked to close (polled about once a second). */
export async function sshSessionCloseRequests(db: Db, instanceId: string): Promise<{ id: string; closeRequestedBy: string | null }[]> {
  return db.sshSession.findMany({
    where: { instanceId, endedAt: null, closeRequestedAt: { not: null } },
    select: { id: true, closeRequestedBy: true },
  });
}

export async function countOpenSshSessions(db: Db, sandboxId: string): Promise<number> {
  return db.sshSession.count({ where: { sandboxId, endedAt: null } });
}

// ─── Gateway instances ─────────────────────────────────────────────────────────────────────────

export async function gatewayHeartbeat(
  db: Db,
  row: { instanceId: string; fingerprint: string; listen: string },
  now = new Date(),
): Promise<void> {
  await db.sshGateway.upsert({
    where: { instanceId: row.instanceId },
    create: { ...row, heartbeatAt: now, startedAt: now },
    update: { fingerprint: row.fingerprint, listen: row.listen, heartbeatAt: now },
  });
}

export async function removeGateway(db: Db, instanceId: string): Promise<void> {
  await db.sshGateway.deleteMany({ where: { instanceId } });
}

export async function liveGateways(
  db: Db,
  staleBefore: Date,
): Promise<{ instanceId: string; fingerprint: string; listen: string; heartbeatAt: Date }[]> {
  return db.sshGateway.findMany({ where: { heartbeatAt: { gte: staleBefore } }, orderBy: { startedAt: "asc" } });
}

/**
 * Ends the open sessions of gateways that stopped heartbeating (a crashed instance cannot end its
 * own rows), and forgets those gateways. Returns how many sessions were ended.
 */
export async function endSessionsOfDeadGateways(db: Db, staleBefore: Date, now = new Date()): Promise<number> {
  const dead = await db.sshGateway.findMany({ where: { heartbeatAt: { lt: staleBefore } }, select: { instanceId: true } });
  if (dead.length === 0) return 0;
  const ids = dead.map((d) => d.instanceId);
  const r = await db.sshSession.updateMany({
    where: { instanceId: { in: ids }, endedAt: null },
    data: { endedAt: now, endReason: "the gateway instance holding it stopped" },
  });
  await db.sshGateway.deleteMany({ where: { instanceId: { in: ids }, heartbeatAt: { lt: staleBefore } } });
  return r.count;
}
