// Reconciliation and workspace roots, against real build VMs: a profile may put its workspaces under a
// root of its own, and two registered hosts may reach one directory (two sshd on one machine, or a
// root that is a symlink). Reconciliation must look in every root a live handle names, must not call
// a healthy sandbox `missing` because it looked in the wrong place, and must never offer a live
// workspace to an admin as an orphan to clean up.
import fs from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { listOrphans, requestReconcile } from "@/lib/manager/host-ops";

import { runAs, startBuildVms, stopBuildVms, type BuildVms } from "../support/build-vms";
import { createVmTestManager, hostEntryFor, type VmTestManager } from "../support/vm-harness";

describe("reconciliation and workspace roots", () => {
  let vms: BuildVms;
  let t: VmTestManager;
  let customRoot: string;
  let aliasRoot: string;

  beforeAll(async () => {
    vms = await startBuildVms({
      vms: [
        { name: "rr1", address: "127.0.0.1" },
        { name: "rr2", address: "127.0.0.3" },
      ],
    });
    const a = vms.vm("rr1");
    const b = vms.vm("rr2");
    // A root of the profile's own on rr1, and on rr2 a root that is a symlink to rr1's root: the two
    // hosts are one machine, so rr2 sees rr1's workspaces through it.
    customRoot = path.join(a.dir, "custom-root");
    aliasRoot = path.join(b.dir, "alias-root");
    await runAs("root", ["install", "-d", "-m", "0755", "-o", vms.user, "-g", vms.user, customRoot]);
    fs.symlinkSync(a.workspaceRoot, aliasRoot);
    t = await createVmTestManager("sqlite", vms, {
      hosts: [hostEntryFor(a), hostEntryFor(b, { workspaceRoot: aliasRoot })],
      profiles: {
        custom: { extension: "ext.vm-packer", params: { host: "host-rr1", workspaceRoot: customRoot } },
        plain: { extension: "ext.vm-packer", params: { host: "host-rr1" } },
      },
      config: { healthIntervalMs: 3_600_000 },
    });
  }, 60_000);

  afterAll(async () => {
    try {
      await t?.close();
    } finally {
      await stopBuildVms(vms);
    }
  });

  async function reconcile(hostId: string) {
    await requestReconcile(t.manager, hostId, t.admin);
    await t.newWorker().runUntilIdle(30_000);
  }

  it("a sandbox under a profile-level workspace root stays ready (and is found missing only when it is gone)", async () => {
    const s = await t.manager.createSandbox("profile.custom", t.user);
    await t.newWorker().runUntilIdle(30_000);
    const ready = await t.manager.getSandbox(s.id);
    expect(ready.status).toBe("ready");
    expect(ready.handle?.workspacePath).toBe(path.join(customRoot, `sbx-${s.id}`));

    await reconcile("host-rr1");
    expect((await t.manager.getSandbox(s.id)).status).toBe("ready");
    expect(await listOrphans(t.manager)).toEqual([]);

    // The custom root is really looked at: remove the workspace by hand and the next pass sees it.
    fs.rmSync(path.join(customRoot, `sbx-${s.id}`), { recursive: true });
    await reconcile("host-rr1");
    expect((await t.manager.getSandbox(s.id)).status).toBe("missing");
    await t.manager.destroySandbox(s.id, t.user);
    await t.newWorker().runUntilIdle(30_000);
  });

  it("a live workspace reached through another host's root is never offered as an orphan; a stray one is", async () => {
    const s = await t.manager.createSandbox("profile.plain", t.user);
    await t.newWorker().runUntilIdle(30_000);
    expect((await t.manager.getSandbox(s.id)).status).toBe("ready");
    const stray = "strayroots123";
    await runAs(vms.user, ["mkdir", path.join(vms.vm("rr1").workspaceRoot, `sbx-${stray}`)]);

    // rr2 lists rr1's root through its symlinked root: the live workspace is there, but it is not an orphan.
    await reconcile("host-rr2");
    await reconcile("host-rr1");
    const orphans = await listOrphans(t.manager);
    expect(orphans.map((o) => o.name)).not.toContain(`sbx-${s.id}`);
    expect(new Set(orphans.map((o) => o.name))).toEqual(new Set([`sbx-${stray}`]));
    expect((await t.manager.getSandbox(s.id)).status).toBe("ready");
    await t.manager.destroySandbox(s.id, t.user);
    await t.newWorker().runUntilIdle(30_000);
  });
});
