// API tokens for the CLI and scripts. A token is shown once at creation; only its SHA-256 is stored,
// with a short prefix so a person can tell tokens apart in a list. Requests present it as
// `Authorization: Bearer sbx_…`.
import "server-only";

import crypto from "node:crypto";

import type { Db } from "../db/client";
import { ConflictError, NotFoundError, ValidationError } from "../errors";

export const TOKEN_PREFIX = "sbx_";
const TOKEN_PATTERN = /^sbx_[A-Za-z0-9_-]{43}$/;

export function hashToken(token: string): string {
  return crypto.createHash("sha256").update(token).digest("hex");
}

export interface TokenView {
  id: string;
  name: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

export async function createToken(db: Db, userId: string, name: string): Promise<{ token: string; view: TokenView }> {
  const trimmed = name.trim();
  if (!/^[\w .:@/-]{1,64}$/.test(trimmed)) {
    throw new ValidationError("Invalid token name", { name: ["1-64 letters, digits, spaces and . _ : @ / -"] });
  }
  const token = `${TOKEN_PREFIX}${crypto.randomBytes(32).toString("base64url")}`;
  try {
    const row = await db.apiToken.create({
      data: {
        id: `tok_${crypto.randomUUID().slice(0, 12)}`,
        userId,
        name: trimmed,
        tokenHash: hashToken(token),
        prefix: token.slice(0, 10),
      },
    });
    return { token, view: toView(row) };
  } catch (e) {
    if ((e as { code?: string }).code === "P2002") throw new ConflictError("DUPLICATE_NAME", `You already have a token named "${trimmed}"`);
    throw e;
  }
}

export async function listTokens(db: Db, userId: string): Promise<TokenView[]> {
  const rows = await db.apiToken.findMany({ where: { userId }, orderBy: { createdAt: "desc" } });
  return rows.map(toView);
}

export async function revokeToken(db: Db, userId: string, id: string): Promise<TokenView> {
  const row = await db.apiToken.findFirst({ where: { id, userId } });
  if (!row) throw new NotFoundError("Token", id);
  const updated = row.revokedAt ? row : await db.apiToken.update({ where: { id }, data: { revokedAt: new Date() } });
  return toView(updated);
}

/** The token's user if the token is valid and not revoked. Touches lastUsedAt at most once a minute. */
export async function verifyToken(db: Db, token: string) {
  if (!TOKEN_PATTERN.test(token)) return null;
  const row = await db.apiToken.findUnique({ where: { tokenHash: hashToken(token) }, include: { user: true } });
  if (!row || row.revokedAt) return null;
  if (!row.lastUsedAt || Date.now() - row.lastUsedAt.getTime() > 60_000) {
    await db.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: new Date() } }).catch(() => {});
  }
  return { tokenId: row.id, tokenName: row.name, user: row.user };
}

function toView(row: {
  id: string;
  name: string;
  prefix: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}): TokenView {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
  };
}
