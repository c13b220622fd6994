// Who the caller is, for `sandboxer login` (to verify a token before storing it) and `doctor`.
import "server-only";

import type { Actor, Role } from "../auth/actor";
import { UnauthenticatedError } from "../errors";
import type { Manager } from "./manager";

export interface WhoAmIView {
  id: string;
  email: string;
  name: string;
  role: Role;
  /** How the request authenticated. */
  via: "session" | "token";
  /** The API token's name, when `via` is "token". */
  tokenName: string | null;
}

export async function whoAmI(manager: Manager, actor: Actor): Promise<WhoAmIView> {
  if (actor.kind === "system") throw new UnauthenticatedError("The system actor has no account");
  const user = await manager.db.user.findUnique({ where: { id: actor.userId }, select: { id: true, email: true, name: true } });
  if (!user) throw new UnauthenticatedError("Your account no longer exists");
  const token =
    actor.kind === "token" ? await manager.db.apiToken.findUnique({ where: { id: actor.tokenId }, select: { name: true } }) : null;
  return { ...user, role: actor.role, via: actor.kind === "token" ? "token" : "session", tokenName: token?.name ?? null };
}
