// People and their API tokens, as the manager exposes them: role changes (admins only, never leaving
// the team without an admin) and token creation/revocation, each audited.
import "server-only";

import { actorUserId, isAdmin, type Actor, type Role } from "../auth/actor";
import { createToken, listTokens, revokeToken, type TokenView } from "../auth/tokens";
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from "../errors";
import type { Manager } from "./manager";

function requireUser(actor: Actor): string {
  const id = actorUserId(actor);
  if (!id) throw new ValidationError("Tokens belong to people, not to the system");
  return id;
}

export async function setRole(m: Manager, actor: Actor, userId: string, role: Role): Promise<void> {
  if (!isAdmin(actor)) throw new ForbiddenError("Only admins change roles");
  const user = await m.db.user.findUnique({ where: { id: userId } });
  if (!user) throw new NotFoundError("User", userId);
  if (user.role === role) return;
  if (user.role === "admin" && role !== "admin") {
    const admins = await m.db.user.count({ where: { role: "admin" } });
    if (admins <= 1) throw new ConflictError("LAST_ADMIN", "The team needs at least one admin; make someone else admin first");
  }
  await m.db.user.update({ where: { id: userId }, data: { role } });
  await m.audit(actor, "user.role", user.email, "ok", `${user.email}: ${user.role} → ${role}`, { from: user.role, to: role });
}

export async function createApiToken(m: Manager, actor: Actor, name: string): Promise<{ token: string; view: TokenView }> {
  const userId = requireUser(actor);
  const created = await createToken(m.db, userId, name);
  await m.audit(actor, "token.create", created.view.name, "ok", `API token "${created.view.name}" (${created.view.prefix}…) created`);
  return created;
}

export async function revokeApiToken(m: Manager, actor: Actor, id: string): Promise<TokenView> {
  const userId = requireUser(actor);
  const view = await revokeToken(m.db, userId, id);
  await m.audit(actor, "token.revoke", view.name, "ok", `API token "${view.name}" (${view.prefix}…) revoked`);
  return view;
}

export async function apiTokens(m: Manager, actor: Actor): Promise<TokenView[]> {
  return listTokens(m.db, requireUser(actor));
}
