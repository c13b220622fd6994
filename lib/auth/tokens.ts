// API tokens for the CLI and scripts. A token is shown once at creation; only its SHA-256 is stored,
// with a short prefix so a person can tell tokens apart in a list. Requests present it as
// `Authorization: Bearer sbx_…`. Each token has scopes (lib/auth/token-scopes.ts) and an expiry;
// tokens made before expiry existed have none (`expiresAt` null: "never — legacy").
import "server-only";

import crypto from "node:crypto";

import type { Db } from "../db/client";
import { ConflictError, NotFoundError, TokenExpiredError, ValidationError } from "../errors";
import { formatScopes, parseScopes, type TokenScope } from "./token-scopes";

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
  scopes: TokenScope[];
  /** Null for a legacy token, made before tokens expired: it never does. */
  expiresAt: string | null;
}

export interface NewToken {
  name: string;
  /** Already checked (lib/auth/token-scopes.ts `checkScopes`). */
  scopes: readonly TokenScope[];
  expiresAt: Date;
}

export async function createToken(db: Db, userId: string, spec: NewToken): Promise<{ token: string; view: TokenView }> {
  const name = spec.name;
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
        scopes: formatScopes(spec.scopes),
        expiresAt: spec.expiresAt,
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

export interface VerifiedToken {
  tokenId: string;
  tokenName: string;
  scopes: TokenScope[];
  expiresAt: Date | null;
  user: { id: string; name: string; email: string; role: string };
}

/**
 * The token's user and scopes if the token is valid and not revoked (null otherwise); throws
 * TokenExpiredError for a token past its expiry, so the caller learns why. Touches lastUsedAt at most
 * once a minute.
 */
export async function verifyToken(db: Db, token: string, now = new Date()): Promise<VerifiedToken | null> {
  if (!TOKEN_PATTERN.test(token)) return null;
  const row = await db.apiToken.findUnique({ where: { tokenHash: hashToken(token) }, include: { user: true } });
  if (!row || row.revokedAt) return null;
  if (row.expiresAt && row.expiresAt.getTime() <= now.getTime()) throw new TokenExpiredError(row.expiresAt);
  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() > 60_000) {
    await db.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: now } }).catch(() => {});
  }
  return { tokenId: row.id, tokenName: row.name, scopes: parseScopes(row.scopes), expiresAt: row.expiresAt, user: row.user };
}

/** One of the person's tokens by id (for the scopes and expiry of the token making a request). */
export async function findToken(db: Db, userId: string, id: string): Promise<TokenView | null> {
  const row = await db.apiToken.findFirst({ where: { id, userId } });
  return row ? toView(row) : null;
}

function toView(row: {
  id: string;
  name: string;
  prefix: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  scopes: string;
  expiresAt: Date | null;
}): TokenView {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
    scopes: parseScopes(row.scopes),
    expiresAt: row.expiresAt?.toISOString() ?? null,
  };
}
