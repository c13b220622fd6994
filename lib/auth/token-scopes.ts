// What an API token may do. A token has one access level — `read` (GET and HEAD only) or `full` —
// and optionally `admin`, which gives its owner's admin powers only while the owner is an admin.
// Stored as one space-separated string in a fixed order ("full admin"), like an OAuth scope.
//
// Pure: the route wrapper (lib/auth/guards.ts), the token store (lib/auth/tokens.ts), the dashboard's
// form and the CLI all read the same rules.

export const TOKEN_SCOPES = ["read", "full", "admin"] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

/** What a person is told the scopes mean (the form, the CLI's help, the docs say the same). */
export const TOKEN_SCOPE_HELP: Record<TokenScope, string> = {
  read: "read-only: GET requests only",
  full: "everything its owner may do, except admin powers",
  admin: "its owner's admin powers, while the owner is an admin",
};

/** Scopes in their stored order, de-duplicated. */
export function normalizeScopes(scopes: readonly TokenScope[]): TokenScope[] {
  return TOKEN_SCOPES.filter((s) => scopes.includes(s));
}

/**
 * Checks a requested set of scopes: exactly one access level (`read` or `full`), `admin` optional.
 * Returns the normalised scopes, or the message for the `scopes` field.
 */
export function checkScopes(scopes: readonly TokenScope[]): { ok: true; scopes: TokenScope[] } | { ok: false; message: string } {
  const normal = normalizeScopes(scopes);
  const levels = normal.filter((s) => s === "read" || s === "full");
  if (levels.length !== 1) return { ok: false, message: 'give exactly one of "read" or "full" (and "admin" if needed)' };
  return { ok: true, scopes: normal };
}

/** The stored form: "read", "full", "read admin" or "full admin". */
export function formatScopes(scopes: readonly TokenScope[]): string {
  return normalizeScopes(scopes).join(" ");
}

/** Reads the stored form; anything unknown is dropped, and a token with no access level may only read. */
export function parseScopes(stored: string): TokenScope[] {
  const known = stored.split(/\s+/).filter((s): s is TokenScope => (TOKEN_SCOPES as readonly string[]).includes(s));
  const normal = normalizeScopes(known);
  return normal.includes("read") || normal.includes("full") ? normal : normalizeScopes([...normal, "read"]);
}

/** Whether a token with these scopes may make a request with this HTTP method. */
export function scopesAllowMethod(scopes: readonly TokenScope[], method: string): boolean {
  if (scopes.includes("full")) return true;
  const m = method.toUpperCase();
  return m === "GET" || m === "HEAD";
}

/** Whether the scopes may grant access (create tokens, register SSH keys): `full` only. */
export function scopesMayGrantAccess(scopes: readonly TokenScope[]): boolean {
  return scopes.includes("full");
}

/** The role a request through the token acts with: the owner's admin role only under the `admin` scope. */
export function tokenRole(ownerRole: string, scopes: readonly TokenScope[]): "admin" | "member" {
  return ownerRole === "admin" && scopes.includes("admin") ? "admin" : "member";
}

/** Whether scopes `wanted` stay within `held` (a token creating a token cannot widen itself). */
export function scopesWithin(wanted: readonly TokenScope[], held: readonly TokenScope[]): boolean {
  if (wanted.includes("admin") && !held.includes("admin")) return false;
  if (wanted.includes("full") && !held.includes("full")) return false;
  return true;
}
