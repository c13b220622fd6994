// Roles and API tokens through the manager on both databases: only admins change roles, the last
// admin cannot be demoted, and every change is audited.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

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
    const { token, view } = await createApiToken(t.manager, t.user, "laptop");
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
});
