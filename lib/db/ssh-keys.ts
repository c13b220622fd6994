// People's SSH public keys (the gateway's credentials): the rows and the lookups the gateway needs.
import "server-only";

import crypto from "node:crypto";

import type { Db } from "./client";

export interface SshKeyRow {
  id: string;
  userId: string;
  type: string;
  publicKey: string;
  fingerprint: string;
  comment: string;
  bits: number;
  createdAt: Date;
  lastUsedAt: Date | null;
}

export async function insertSshKey(db: Db, row: Omit<SshKeyRow, "id" | "createdAt" | "lastUsedAt">): Promise<SshKeyRow> {
  return db.sshKey.create({ data: { id: `key_${crypto.randomUUID().replace(/-/g, "").slice(0, 16)}`, ...row } });
}

export async function listSshKeysOf(db: Db, userId: string): Promise<SshKeyRow[]> {
  return db.sshKey.findMany({ where: { userId }, orderBy: { createdAt: "asc" } });
}

export async function findSshKeyByFingerprint(db: Db, fingerprint: string): Promise<SshKeyRow | null> {
  return db.sshKey.findUnique({ where: { fingerprint } });
}

/** The key with the person it belongs to (the gateway's authentication lookup). */
export async function findSshKeyWithUser(db: Db, fingerprint: string) {
  return db.sshKey.findUnique({
    where: { fingerprint },
    include: { user: { select: { id: true, email: true, role: true } } },
  });
}

/** Deletes one of the person's keys; null when they have no key with that id. */
export async function deleteSshKeyOf(db: Db, userId: string, id: string): Promise<SshKeyRow | null> {
  const row = await db.sshKey.findFirst({ where: { id, userId } });
  if (!row) return null;
  await db.sshKey.deleteMany({ where: { id, userId } });
  return row;
}

/** Marks a key used (at most once a minute per key: a busy key must not write on every connection). */
export async function touchSshKey(db: Db, id: string, now = new Date()): Promise<void> {
  await db.sshKey.updateMany({
    where: { id, OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: new Date(now.getTime() - 60_000) } }] },
    data: { lastUsedAt: now },
  });
}
