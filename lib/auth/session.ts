// Who is calling: a session cookie (browser) or a Bearer API token (CLI, scripts). Route handlers
// accept both (`actorFromHeaders`); pages and server actions accept the session cookie only
// (`sessionActorFromHeaders`), so a token — whatever its scopes — cannot drive the dashboard's
// actions, e.g. mint more tokens through the tokens page.
import "server-only";

import { db } from "../db/client";
import { requestClientAddress } from "../http/client-address";
import type { Actor, Role } from "./actor";
import { auth } from "./auth";
import { tokenRole } from "./token-scopes";
import { verifyToken } from "./tokens";

function roleOf(value: unknown): Role {
  return value === "admin" ? "admin" : "member";
}

/**
 * The actor behind a request, or null when it carries neither a valid session nor a valid token.
 * Throws TokenExpiredError for an expired token (a 401 that says so).
 */
export async function actorFromHeaders(headers: Headers): Promise<Actor | null> {
  const ip = requestClientAddress(headers);
  const authorization = headers.get("authorization");
  if (authorization) {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (!m) return null;
    const found = await verifyToken(db(), m[1]!);
    if (!found) return null;
    return {
      kind: "token",
      userId: found.user.id,
      tokenId: found.tokenId,
      role: tokenRole(found.user.role, found.scopes),
      scopes: found.scopes,
      expiresAt: found.expiresAt,
      label: `${found.user.email} (token ${found.tokenName})`,
      person: { name: found.user.name, email: found.user.email },
      ip,
    };
  }
  return sessionActorFromHeaders(headers);
}

/** The signed-in person behind a request's session cookie, or null; an Authorization header is ignored. */
export async function sessionActorFromHeaders(headers: Headers): Promise<Actor | null> {
  const ip = requestClientAddress(headers);
  const session = await auth().api.getSession({ headers });
  if (!session) return null;
  // getSession reads the session and its user from the database on every call (no cookie cache is
  // configured in ./auth.ts), so the role is the stored one: a demotion takes effect at the next request.
  const user = session.user as { id: string; name: string; email: string; role?: unknown };
  return { kind: "user", userId: user.id, role: roleOf(user.role), label: user.email, ip, person: { name: user.name, email: user.email } };
}
