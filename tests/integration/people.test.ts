// Roles and API tokens through the manager on both databases: only admins change roles, the last
// admin cannot be demoted, and every change is audited. Tokens get scopes and an expiry (issue 14).
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { Actor } from "@/lib/auth/actor";
import { verifyToken } from "@/lib/auth/tokens";
import { apiTokens, createApiToken, revokeApiToken, setRole } from "@/lib/manager/people";

import { PROVIDERS } from "../support/databases";
import { createTestManager, type TestManager } from "../support/manager-harness";

describe.each(PROVIDERS)("people on %s", (provider) => {
  let t: TestManager;
  beforeAll(async () => {
    t = await createTestManager(provider);
  });
  afterAll(async () => t?.close());

  const idOf = (a: TestManager["user"]) => (a as { userId: string }).userId;

  it("an admin promotes and demotes; a member cannot; the last admin stays", async () => {
    await expect(setRole(t.manager, t.user, idOf(t.user), "admin")).rejects.toMatchObject({ code: "FORBIDDEN" });
    await setRole(t.manager, t.admin, idOf(t.other), "admin");
    expect((await t.db.user.findUniqueOrThrow({ where: { id: idOf(t.other) } })).role).toBe("admin");
    await setRole(t.manager, t.admin, idOf(t.other), "member");
    await expect(setRole(t.manager, t.admin, idOf(t.admin), "member")).rejects.toMatchObject({ code: "LAST_ADMIN" });
    const audit = await t.db.event.findMany({ where: { type: "audit", action: "user.role" }, orderBy: { id: "asc" } });
    expect(audit.map((a) => a.message)).toEqual([expect.stringContaining("member → admin"), expect.stringContaining("admin → member")]);
    expect(audit.every((a) => a.actorId === idOf(t.admin))).toBe(true);
  });

  it("tokens are created and revoked by their owner, audited, and listed without the secret", async () => {
    const { token, view } = await createApiToken(t.manager, t.user, { name: "laptop" });
    const listed = await apiTokens(t.manager, t.user);
    expect(listed.map((v) => v.name)).toEqual(["laptop"]);
    expect(JSON.stringify(listed)).not.toContain(token.slice(10));
    expect(await apiTokens(t.manager, t.other)).toEqual([]);
    await expect(revokeApiToken(t.manager, t.other, view.id)).rejects.toMatchObject({ code: "NOT_FOUND" });
    await revokeApiToken(t.manager, t.user, view.id);
    const actions = (await t.db.event.findMany({ where: { type: "audit", action: { startsWith: "token." } }, orderBy: { id: "asc" } })).map(
      (e) => e.action,
    );
    expect(actions).toEqual(["token.create", "token.revoke"]);
  });

  it("a new token is full-scoped and expires after SANDBOXER_TOKEN_TTL_DEFAULT unless asked otherwise, never beyond the maximum", async () => {
    const now = new Date("2026-12-01T00:00:00.000Z");
    const { view } = await createApiToken(t.manager, t.user, { name: "defaults" }, now);
    expect(view.scopes).toEqual(["full"]);
    expect(view.expiresAt).toBe(new Date(now.getTime() + t.manager.config.tokenTtlDefaultMs).toISOString());
    const short = await createApiToken(t.manager, t.user, { name: "short", scopes: ["read"], expiresIn: "12h" }, now);
    expect(short.view).toMatchObject({ scopes: ["read"], expiresAt: "2026-12-01T12:00:00.000Z" });
    const tooLong = createApiToken(t.manager, t.user, { name: "too-long", expiresIn: "400d" }, now);
    await expect(tooLong).rejects.toMatchObject({
      code: "VALIDATION_FAILED",
      fieldErrors: { expiresIn: [expect.stringContaining("SANDBOXER_TOKEN_TTL_MAX")] },
    });
    await expect(createApiToken(t.manager, t.user, { name: "bad", expiresIn: "soon" }, now)).rejects.toMatchObject({
      fieldErrors: { expiresIn: [expect.stringContaining("not a duration")] },
    });
    await expect(createApiToken(t.manager, t.user, { name: "both", scopes: ["read", "full"] }, now)).rejects.toMatchObject({
      fieldErrors: { scopes: [expect.stringContaining("exactly one")] },
    });
    const audit = await t.db.event.findFirst({ where: { type: "audit", action: "token.create", target: "short" } });
    expect(audit?.message).toContain('scopes "read", expires 2026-12-01T12:00:00.000Z');
  });

  it("the admin scope is for admins only, and gives admin powers only to an admin owner", async () => {
    await expect(createApiToken(t.manager, t.user, { name: "wants-admin", scopes: ["full", "admin"] })).rejects.toMatchObject({
      code: "VALIDATION_FAILED",
      fieldErrors: { scopes: ["only admins can create tokens with the admin scope"] },
    });
    const withAdmin = await createApiToken(t.manager, t.admin, { name: "ops", scopes: ["read", "admin"] });
    const plain = await createApiToken(t.manager, t.admin, { name: "plain", scopes: ["full"] });
    expect((await verifyToken(t.db, withAdmin.token))?.scopes).toEqual(["read", "admin"]);
    expect((await verifyToken(t.db, plain.token))?.scopes).toEqual(["full"]);
  });

  it("an expired token is refused with TOKEN_EXPIRED naming when; a legacy token (no expiry) keeps working", async () => {
    const { token, view } = await createApiToken(t.manager, t.user, { name: "brief", expiresIn: "1m" });
    expect(await verifyToken(t.db, token)).not.toBeNull();
    const later = new Date(Date.parse(view.expiresAt!) + 1);
    await expect(verifyToken(t.db, token, later)).rejects.toMatchObject({
      code: "TOKEN_EXPIRED",
      message: expect.stringContaining(`expired at ${view.expiresAt}`),
    });
    await t.db.apiToken.update({ where: { id: view.id }, data: { expiresAt: null } });
    expect((await verifyToken(t.db, token, new Date("2100-01-01")))?.expiresAt).toBeNull();
  });

  it("a token creating a token cannot widen its scopes or outlive itself", async () => {
    const parent = await createApiToken(t.manager, t.admin, { name: "parent", scopes: ["full"], expiresIn: "2d" });
    const found = (await verifyToken(t.db, parent.token))!;
    const viaToken: Actor = {
      kind: "token",
      userId: found.user.id,
      tokenId: found.tokenId,
      label: "admin (token parent)",
      role: "member",
      scopes: found.scopes,
      expiresAt: found.expiresAt,
    };
    await expect(createApiToken(t.manager, viaToken, { name: "child-admin", scopes: ["full", "admin"] })).rejects.toMatchObject({
      code: "TOKEN_SCOPE",
    });
    const child = await createApiToken(t.manager, viaToken, { name: "child", scopes: ["read"], expiresIn: "30d" });
    expect(child.view.expiresAt).toBe(parent.view.expiresAt);
  });
});
