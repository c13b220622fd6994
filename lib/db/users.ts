// People as the manager needs them: labels for audit entries, the team list, role changes.
// (Accounts themselves are better-auth's; lib/auth owns sign-up, sessions and tokens.)
import "server-only";

import type { Role } from "../auth/actor";
import type { Db } from "./client";

export interface UserRow {
  id: string;
  name: string;
  email: string;
  role: string;
  createdAt: Date;
}

const userSelect = { id: true, name: true, email: true, role: true, createdAt: true } as const;

export async function findUser(db: Db, id: string): Promise<UserRow | null> {
  return db.user.findUnique({ where: { id }, select: userSelect });
}

/** The e-mail that names a person in audit entries, or null when the account is gone. */
export async function userEmail(db: Db, id: string): Promise<string | null> {
  return (await db.user.findUnique({ where: { id }, select: { email: true } }))?.email ?? null;
}

/** The team (the warm pool's system account is not a person). */
export async function listUsers(db: Db): Promise<UserRow[]> {
  return db.user.findMany({ where: { role: { not: "system" } }, orderBy: { email: "asc" }, select: userSelect });
}

export async function countAdmins(db: Db): Promise<number> {
  return db.user.count({ where: { role: "admin" } });
}

export async function setUserRole(db: Db, id: string, role: Role): Promise<void> {
  await db.user.update({ where: { id }, data: { role } });
}

export async function apiTokenName(db: Db, id: string): Promise<string | null> {
  return (await db.apiToken.findUnique({ where: { id }, select: { name: true } }))?.name ?? null;
}

/**
 * Makes `userId` admin if the team has no admin yet, atomically: of twelve concurrent first sign-ups
 * exactly one becomes admin. On PostgreSQL a transaction-scoped advisory lock serialises the check
 * and the write (READ COMMITTED alone would let two transactions both see "no admin"); on SQLite the
 * one connection already runs transactions one at a time. Returns the role the person ends up with.
 */
export async function promoteIfNoAdmin(db: Db, userId: string, provider: "sqlite" | "postgresql"): Promise<Role> {
  return db.$transaction(async (tx) => {
    if (provider === "postgresql") await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${FIRST_ADMIN_LOCK})`);
    if ((await tx.user.count({ where: { role: "admin" } })) > 0) return "member";
    await tx.user.update({ where: { id: userId }, data: { role: "admin" } });
    return "admin";
  });
}

/** Advisory-lock key of the first-admin check (any constant; "sbx-adm" in ASCII). */
const FIRST_ADMIN_LOCK = 0x7362782d61646d;
