import { describe, expect, it } from "vitest";

import { VmPackerExtension, vmPackerParamsSchema } from "./extension";

const ext = new VmPackerExtension({
  manifest: { id: "ext.vm-packer", version: "1.0.0" } as never,
  services: { localWorkspaceRoot: "/tmp/unused" },
});
const params = (repository: unknown, extra: Record<string, unknown> = {}) =>
  vmPackerParamsSchema.parse({ host: "host-a", repository, ...extra });

describe("ext.vm-packer's git ref check", () => {
  it.each(["main", "feature/x-1", "v1.2.3", "release_2026.12"])("accepts %s", (ref) => {
    expect(vmPackerParamsSchema.safeParse({ host: "h", repository: { git: "/srv/app.git", ref } }).success).toBe(true);
  });

  it.each(["-upload-pack=x", "a..b", "a//b", "a/.hidden", "x.lock", "x.lock/y", "trailing/", "trailing.", "has space", "a@{1}", ""])(
    "refuses %j at repository.ref",
    (ref) => {
      const r = vmPackerParamsSchema.safeParse({ host: "h", repository: { git: "/srv/app.git", ref } });
      expect(r.success).toBe(false);
      expect(r.error!.issues[0]!.path).toEqual(["repository", "ref"]);
    },
  );
});

describe("ext.vm-packer's canMove", () => {
  const main = params({ git: "/srv/app.git", ref: "main" });
  it("moves a clone to another ref of the same repository, everything else equal", () => {
    expect(ext.canMove(main, params({ git: "/srv/app.git", ref: "feature" }))).toBe(true);
  });
  it("not to the same ref, another repository, other params, or a synced checkout", () => {
    expect(ext.canMove(main, params({ git: "/srv/app.git", ref: "main" }))).toBe(false);
    expect(ext.canMove(main, params({ git: "/srv/other.git", ref: "feature" }))).toBe(false);
    expect(ext.canMove(main, params({ git: "/srv/app.git", ref: "feature" }, { syncTimeoutSeconds: 60 }))).toBe(false);
    expect(ext.canMove(main, params({ path: "/srv/checkout" }))).toBe(false);
    expect(ext.canMove(main, params(null))).toBe(false);
  });
});
