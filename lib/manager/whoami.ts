// Who the caller is, for `sandboxer login` (to verify a token before storing it) and `doctor`.
import "server-only";

import type { Actor, Role } from "../auth/actor";
import type { TokenScope } from "../auth/token-scopes";
import { UnauthenticatedError } from "../errors";
import { apiTokenName, findUser } from "../db/users";
import type { ManagerContext } from "./context";

export interface WhoAmIView {
  id: string;
  email: string;
  name: string;
  role: Role;
  /** How the request authenticated. */
  via: "session" | "token";
  /** The API token's name, when `via` is "token". */
  tokenName: string | null;
  /** The API token's scopes, when `via` is "token". */
  tokenScopes: TokenScope[] | null;
  /** When the API token expires; null for a session, or a legacy token that never expires. */
  tokenExpiresAt: string | null;
}

export async function whoAmI(ctx: Pick<ManagerContext, "db">, actor: Actor): Promise<WhoAmIView> {
  if (actor.kind === "system") throw new UnauthenticatedError("The system actor has no account");
  const user = await findUser(ctx.db, actor.userId);
  if (!user) throw new UnauthenticatedError("Your account no longer exists");
  const tokenName = actor.kind === "token" ? await apiTokenName(ctx.db, actor.tokenId) : null;
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    role: actor.role,
    via: actor.kind === "token" ? "token" : "session",
    tokenName,
    tokenScopes: actor.kind === "token" ? [...actor.scopes] : null,
    tokenExpiresAt: actor.kind === "token" ? (actor.expiresAt?.toISOString() ?? null) : null,
  };
}
