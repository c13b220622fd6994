import { describe, expect, it } from "vitest";

import { checkScopes, formatScopes, parseScopes, scopesAllowMethod, scopesMayGrantAccess, scopesWithin, tokenRole } from "./token-scopes";

describe("API token scopes", () => {
  it("need exactly one access level; admin is an addition", () => {
    expect(checkScopes(["full"])).toEqual({ ok: true, scopes: ["full"] });
    expect(checkScopes(["admin", "read", "read"])).toEqual({ ok: true, scopes: ["read", "admin"] });
    expect(checkScopes(["admin"]).ok).toBe(false);
    expect(checkScopes(["read", "full"]).ok).toBe(false);
    expect(checkScopes([]).ok).toBe(false);
  });

  it("are stored in one order and read back, unknown words dropped, no level meaning read-only", () => {
    expect(formatScopes(["admin", "full"])).toBe("full admin");
    expect(parseScopes("full admin")).toEqual(["full", "admin"]);
    expect(parseScopes(" read  ")).toEqual(["read"]);
    expect(parseScopes("admin bogus")).toEqual(["read", "admin"]);
    expect(parseScopes("")).toEqual(["read"]);
  });

  it("read allows GET and HEAD only; full allows every method; only full grants access", () => {
    for (const m of ["GET", "head", "HEAD"]) expect(scopesAllowMethod(["read"], m)).toBe(true);
    for (const m of ["POST", "DELETE", "PUT", "PATCH"]) expect(scopesAllowMethod(["read", "admin"], m)).toBe(false);
    for (const m of ["GET", "POST", "DELETE"]) expect(scopesAllowMethod(["full"], m)).toBe(true);
    expect(scopesMayGrantAccess(["read", "admin"])).toBe(false);
    expect(scopesMayGrantAccess(["full"])).toBe(true);
  });

  it("give admin powers only to an admin owner under the admin scope", () => {
    expect(tokenRole("admin", ["full"])).toBe("member");
    expect(tokenRole("admin", ["read", "admin"])).toBe("admin");
    expect(tokenRole("member", ["full", "admin"])).toBe("member");
  });

  it("let a token create only tokens within its own scopes", () => {
    expect(scopesWithin(["full"], ["full", "admin"])).toBe(true);
    expect(scopesWithin(["read"], ["full"])).toBe(true);
    expect(scopesWithin(["full", "admin"], ["full"])).toBe(false);
    expect(scopesWithin(["full"], ["read"])).toBe(false);
  });
});
