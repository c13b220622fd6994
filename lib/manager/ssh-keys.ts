// People's SSH keys for the gateway, as the manager exposes them: add (validated: type, size,
// duplicates), list and remove one's own keys, each change audited.
import "server-only";

import { actorUserId, type Actor } from "../auth/actor";
import { deleteSshKeyOf, findSshKeyByFingerprint, insertSshKey, listSshKeysOf, type SshKeyRow } from "../db/ssh-keys";
import { NotFoundError, ValidationError } from "../errors";
import { PublicKeyError, cleanComment, parsePublicKey } from "../gateway/public-keys";
import { audit } from "./audit";
import type { ManagerContext } from "./context";

type Ctx = Pick<ManagerContext, "db" | "logger">;

export interface SshKeyView {
  id: string;
  type: string;
  fingerprint: string;
  comment: string;
  bits: number;
  createdAt: string;
  lastUsedAt: string | null;
}

export function toSshKeyView(row: SshKeyRow): SshKeyView {
  return {
    id: row.id,
    type: row.type,
    fingerprint: row.fingerprint,
    comment: row.comment,
    bits: row.bits,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
  };
}

function requireUser(actor: Actor): string {
  const id = actorUserId(actor);
  if (!id) throw new ValidationError("SSH keys belong to people, not to the system");
  return id;
}

export async function listOwnSshKeys(ctx: Pick<ManagerContext, "db">, actor: Actor): Promise<SshKeyView[]> {
  return (await listSshKeysOf(ctx.db, requireUser(actor))).map(toSshKeyView);
}

export async function addSshKey(ctx: Ctx, actor: Actor, input: { publicKey: string; comment?: string | undefined }): Promise<SshKeyView> {
  const userId = requireUser(actor);
  let parsed;
  try {
    parsed = parsePublicKey(input.publicKey);
  } catch (e) {
    if (e instanceof PublicKeyError) throw new ValidationError(`Invalid public key: ${e.message}`, { publicKey: [e.message] });
    throw e;
  }
  const comment = input.comment !== undefined ? cleanComment(input.comment) : parsed.comment;
  const existing = await findSshKeyByFingerprint(ctx.db, parsed.fingerprint);
  if (existing) {
    const msg =
      existing.userId === userId
        ? `you already registered this key (${parsed.fingerprint})`
        : `this key (${parsed.fingerprint}) is registered to another account; a key names one person — make a key of your own`;
    throw new ValidationError(`Invalid public key: ${msg}`, { publicKey: [msg] });
  }
  let row: SshKeyRow;
  try {
    row = await insertSshKey(ctx.db, {
      userId,
      type: parsed.type,
      publicKey: parsed.base64,
      fingerprint: parsed.fingerprint,
      comment,
      bits: parsed.bits,
    });
  } catch (e) {
    // Two requests raced past the check above: the unique index decides.
    if ((e as { code?: string }).code === "P2002") {
      throw new ValidationError("Invalid public key: it is already registered", { publicKey: ["this key is already registered"] });
    }
    throw e;
  }
  await audit(ctx, {
    actor,
    action: "ssh_key.add",
    target: row.fingerprint,
    result: "ok",
    message: `SSH key ${row.type} ${row.fingerprint}${row.comment ? ` (${row.comment})` : ""} added`,
  });
  return toSshKeyView(row);
}

export async function removeSshKey(ctx: Ctx, actor: Actor, id: string): Promise<SshKeyView> {
  const row = await deleteSshKeyOf(ctx.db, requireUser(actor), id);
  if (!row) throw new NotFoundError("SSH key", id);
  await audit(ctx, {
    actor,
    action: "ssh_key.remove",
    target: row.fingerprint,
    result: "ok",
    message: `SSH key ${row.type} ${row.fingerprint}${row.comment ? ` (${row.comment})` : ""} removed`,
  });
  return toSshKeyView(row);
}
