// Who is doing something: a signed-in person, a person through an API token, or the system itself
// (expiry, the reaper, the reconciler). Every manager command takes an Actor; audit entries name it.

import type { TokenScope } from "./token-scopes";

export type Role = "admin" | "member";

/** The person's name and email as their session or token read them (a view of what they create shows them as owner). */
export interface ActorPerson {
  name: string;
  email: string;
}

export type Actor =
  | { kind: "user"; userId: string; label: string; role: Role; ip?: string; person?: ActorPerson }
  | {
      kind: "token";
      userId: string;
      label: string;
      person?: ActorPerson;
      /** The role the request acts with: the owner's admin role only under the token's `admin` scope. */
      role: Role;
      tokenId: string;
      scopes: readonly TokenScope[];
      /** Null for a legacy token (no expiry). */
      expiresAt: Date | null;
      ip?: string;
    }
  | { kind: "system"; label: string; ip?: undefined };

export const SYSTEM_ACTOR: Actor = { kind: "system", label: "system" };

export function systemActor(what: string): Actor {
  return { kind: "system", label: `system (${what})` };
}

export function actorUserId(actor: Actor): string | null {
  return actor.kind === "system" ? null : actor.userId;
}
