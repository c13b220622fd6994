// People and their API tokens, as the manager exposes them: role changes (admins only, never leaving
// the team without an admin) and token creation/revocation, each audited. A new token gets scopes
// (default `full`; `admin` only for admins) and an expiry (SANDBOXER_TOKEN_TTL_DEFAULT, at most
// SANDBOXER_TOKEN_TTL_MAX); a token creating a token cannot widen its scopes or outlive itself.
import "server-only";

import { actorUserId, type Actor, type Role } from "../auth/actor";
import { can } from "../auth/policy";
import { checkScopes, scopesWithin, type TokenScope } from "../auth/token-scopes";
import { createToken, listTokens, revokeToken, type TokenView } from "../auth/tokens";
import { countAdmins, findUser, setUserRole } from "../db/users";
import { formatDuration, parseDuration } from "../duration";
import { ConflictError, ForbiddenError, NotFoundError, TokenScopeError, ValidationError, isValidationError } from "../errors";
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

export interface NewApiToken {
  name: string;
  /** Default: ["full"]. */
  scopes?: TokenScope[];
  /** A duration ("30d", "12h"); default SANDBOXER_TOKEN_TTL_DEFAULT. */
  expiresIn?: string;
}

const MIN_TOKEN_TTL_MS = 60_000;

function tokenLifetime(config: ManagerContext["config"], expiresIn: string | undefined): number {
  if (expiresIn === undefined) return config.tokenTtlDefaultMs;
  let ms: number;
  try {
    ms = parseDuration(expiresIn);
  } catch (e) {
    if (isValidationError(e)) throw new ValidationError("Invalid token expiry", { expiresIn: [e.message] });
    throw e;
  }
  if (ms < MIN_TOKEN_TTL_MS) throw new ValidationError("Invalid token expiry", { expiresIn: ["at least 1m"] });
  if (ms > config.tokenTtlMaxMs) {
    throw new ValidationError("Invalid token expiry", {
      expiresIn: [`at most ${formatDuration(config.tokenTtlMaxMs)} (SANDBOXER_TOKEN_TTL_MAX)`],
    });
  }
  return ms;
}

export async function createApiToken(
  ctx: Ctx & Pick<ManagerContext, "config">,
  actor: Actor,
  input: NewApiToken,
  now = new Date(),
): Promise<{ token: string; view: TokenView }> {
  const userId = requireUser(actor);
  const checked = checkScopes(input.scopes ?? ["full"]);
  if (!checked.ok) throw new ValidationError("Invalid token scopes", { scopes: [checked.message] });
  const scopes = checked.scopes;
  if (scopes.includes("admin")) {
    const owner = await findUser(ctx.db, userId);
    if (owner?.role !== "admin")
      throw new ValidationError("Invalid token scopes", { scopes: ["only admins can create tokens with the admin scope"] });
  }
  let expiresAt = new Date(now.getTime() + tokenLifetime(ctx.config, input.expiresIn));
  if (actor.kind === "token") {
    // A token minting a token: never more scopes than it has, never a longer life.
    if (!scopesWithin(scopes, actor.scopes)) {
      throw new TokenScopeError(
        `An API token cannot create a token with more scopes than its own ("${actor.scopes.join(" ")}")`,
        actor.scopes.join(" "),
      );
    }
    if (actor.expiresAt && actor.expiresAt < expiresAt) expiresAt = actor.expiresAt;
  }
  const created = await createToken(ctx.db, userId, { name: input.name, scopes, expiresAt });
  await audit(ctx, {
    actor,
    action: "token.create",
    target: created.view.name,
    result: "ok",
    message: `API token "${created.view.name}" (${created.view.prefix}…) created, scopes "${scopes.join(" ")}", expires ${created.view.expiresAt}`,
    data: { scopes, expiresAt: created.view.expiresAt },
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
