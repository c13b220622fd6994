import { describe, expect, it } from "vitest";

import { systemActor, type Actor } from "./actor";
import { can, sandboxPermissions } from "./policy";

const member: Actor = { kind: "user", userId: "u1", label: "m@example.test", role: "member" };
const other: Actor = {
  kind: "token",
  userId: "u2",
  label: "o@example.test",
  role: "member",
  tokenId: "t",
  scopes: ["full"],
  expiresAt: null,
};
const admin: Actor = { kind: "user", userId: "u3", label: "a@example.test", role: "admin" };

describe("can(actor, action, target)", () => {
  it("lets every person create and read", () => {
    for (const a of [member, other, admin]) {
      expect(can(a, "sandbox.create")).toBe(true);
      expect(can(a, "host.read")).toBe(true);
    }
  });

  it("lets the owner or an admin destroy, extend and enter a sandbox, and no one else", () => {
    const mine = { ownerId: "u1" };
    for (const action of ["sandbox.destroy", "sandbox.extend", "sandbox.enter"] as const) {
      expect(can(member, action, mine)).toBe(true);
      expect(can(other, action, mine)).toBe(false);
      expect(can(admin, action, mine)).toBe(true);
    }
  });

  it("keeps admin actions to admins, whatever the credential", () => {
    for (const action of ["host.manage", "people.manage", "audit.read", "metrics.read", "sandbox.destroy_any"] as const) {
      expect(can(member, action)).toBe(false);
      expect(can(other, action)).toBe(false);
      expect(can(admin, action)).toBe(true);
    }
  });

  it("lets the system (expiry, reaper) act on anything", () => {
    expect(can(systemActor("expiry"), "sandbox.destroy", { ownerId: "u1" })).toBe(true);
    expect(can(systemActor("expiry"), "host.manage")).toBe(true);
  });

  it("answers the detail page's buttons from the same rules", () => {
    expect(sandboxPermissions(member, { ownerId: "u1" })).toEqual({ destroy: true, extend: true, enter: true });
    expect(sandboxPermissions(other, { ownerId: "u1" })).toEqual({ destroy: false, extend: false, enter: false });
  });
});
