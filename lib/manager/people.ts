// People and their API tokens, as the manager exposes them: role changes (admins only, never leaving
// the team without an admin) and token creation/revocation, each audited.
import "server-only";

import { actorUserId, type Actor, type Role } from "../auth/actor";
import { can } from "../auth/policy";
import { createToken, listTokens, revokeToken, type TokenView } from "../auth/tokens";
import { countAdmins, findUser, setUserRole } from "../db/users";
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from "../errors";
import { audit } from "./audit";
import type { ManagerContext } from "./context";

type Ctx = Pick<ManagerContext, "db" | "logger">;

function requireUser(actor: Actor): string {
  const id = actorUserId(actor);
  if (!id) throw new ValidationError("Tokens belong to people, not to the system");
  return id;
}

export async function setRole(ctx: Ctx, actor: Actor, userId: string, role: Role): Promise<void> {
  if (!can(actor, "people.manage")) throw new ForbiddenError("Only admins change roles");
  const user = await findUser(ctx.db, userId);
  if (!user) throw new NotFoundError("User", userId);
  if (user.role === role) return;
  if (user.role === "admin" && role !== "admin") {
    if ((await countAdmins(ctx.db)) <= 1)
      throw new ConflictError("LAST_ADMIN", "The team needs at least one admin; make someone else admin first");
  }
  await setUserRole(ctx.db, userId, role);
  await audit(ctx, {
    actor,
    action: "user.role",
    target: user.email,
    result: "ok",
    message: `${user.email}: ${user.role} → ${role}`,
    data: { from: user.role, to: role },
  });
}

export async function createApiToken(ctx: Ctx, actor: Actor, name: string): Promise<{ token: string; view: TokenView }> {
  const userId = requireUser(actor);
  const created = await createToken(ctx.db, userId, name);
  await audit(ctx, {
    actor,
    action: "token.create",
    target: created.view.name,
    result: "ok",
    message: `API token "${created.view.name}" (${created.view.prefix}…) created`,
  });
  return created;
}

export async function revokeApiToken(ctx: Ctx, actor: Actor, id: string): Promise<TokenView> {
  const userId = requireUser(actor);
  const view = await revokeToken(ctx.db, userId, id);
  await audit(ctx, {
    actor,
    action: "token.revoke",
    target: view.name,
    result: "ok",
    message: `API token "${view.name}" (${view.prefix}…) revoked`,
  });
  return view;
}

export async function apiTokens(ctx: Pick<ManagerContext, "db">, actor: Actor): Promise<TokenView[]> {
  return listTokens(ctx.db, requireUser(actor));
}
