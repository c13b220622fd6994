// Host health and drift reconciliation against real build VMs: unreachable hosts stop getting
// sandboxes until they recover; a changed key needs an admin's pin; orphans are listed, never deleted
// on their own, and adopted or cleaned up by an admin; vanished workspaces are marked missing.
import fs from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { adoptOrphan, cleanUpOrphan, listOrphans, pinHostKey, requestReconcile } from "@/lib/manager/host-ops";

import { restartVm, runAs, startBuildVms, stopBuildVms, stopVm, type BuildVms } from "../support/build-vms";
import { waitForStatus } from "../support/manager-harness";
import { createVmTestManager, type VmTestManager } from "../support/vm-harness";

describe("host health and drift", () => {
  let vms: BuildVms;
  let t: VmTestManager;

  beforeAll(async () => {
    vms = await startBuildVms({ vms: [{ name: "hh1", address: "127.0.0.1" }] });
    t = await createVmTestManager("postgresql", vms, {
      profiles: { ws: { extension: "ext.vm-packer", params: { host: "host-hh1" } } },
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

  async function reconcile() {
    await requestReconcile(t.manager, "host-hh1", t.admin);
    await t.newWorker().runUntilIdle(30_000);
    return t.db.buildHost.findUniqueOrThrow({ where: { id: "host-hh1" } });
  }

  it("a healthy host reports free space and remembers its full key", async () => {
    const host = await reconcile();
    expect(host.health).toBe("healthy");
    expect(Number(host.freeBytes)).toBeGreaterThan(1024 * 1024);
    expect(host.hostPublicKey).toBe(vms.vm("hh1").hostPublicKeyLine.split(" ").slice(0, 2).join(" "));
    const [view] = await t.manager.listHosts();
    expect(view).toMatchObject({ id: "host-hh1", health: "healthy", sandboxes: 0, capacity: 60 });
  });

  it("an unreachable host gets no new sandboxes until it recovers; the queue says why", async () => {
    const vm = vms.vm("hh1");
    await stopVm(vm);
    const down = await reconcile();
    expect(down.health).toBe("unreachable");
    expect(down.healthDetail).toMatch(/refused|nothing is listening/i);
    const w = t.newWorker();
    w.start();
    const s = await t.manager.createSandbox("profile.ws", t.user);
    // The worker looks at it, finds no usable host and records why; it stays queued.
    await expect
      .poll(async () => (await t.manager.getSandboxDetail(s.id)).queue?.reason ?? null, { timeout: 15_000, interval: 50 })
      .toContain("unreachable");
    expect((await t.manager.getSandboxDetail(s.id)).status).toBe("queued");
    await restartVm(vm);
    await requestReconcile(t.manager, "host-hh1", t.admin);
    await waitForStatus(t.manager, s.id, ["ready"], 30_000);
    await w.stop();
    expect((await t.db.buildHost.findUniqueOrThrow({ where: { id: "host-hh1" } })).health).toBe("healthy");
    await t.manager.destroySandbox(s.id, t.user);
    await t.newWorker().runUntilIdle();
  });

  it("a changed host key stops new sandboxes until an admin pins the offered key (audited, both fingerprints)", async () => {
    const vm = vms.vm("hh1");
    const oldKey = vm.hostKeyFingerprint;
    const rebuilt = await restartVm(vm, { newHostKey: true });
    expect(rebuilt.hostKeyFingerprint).not.toBe(oldKey);
    const host = await reconcile();
    expect(host.health).toBe("key_changed");
    expect(host.offeredHostKey).toBe(rebuilt.hostKeyFingerprint);
    expect(host.healthDetail).toContain(oldKey);
    const flagged = await t.db.event.findFirst({ where: { type: "audit", action: "host.key_changed", target: "host-hh1" } });
    expect(flagged?.message).toContain(rebuilt.hostKeyFingerprint);
    // A member cannot pin; a wrong fingerprint is refused; the offered one is accepted.
    await expect(pinHostKey(t.manager, t.user, "host-hh1", rebuilt.hostKeyFingerprint)).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(pinHostKey(t.manager, t.admin, "host-hh1", oldKey)).rejects.toMatchObject({ code: "KEY_NOT_OFFERED" });
    await pinHostKey(t.manager, t.admin, "host-hh1", rebuilt.hostKeyFingerprint);
    const pinned = await t.db.event.findFirst({ where: { type: "audit", action: "host.pin_key", target: "host-hh1" } });
    expect(pinned?.message).toContain(oldKey);
    expect(pinned?.message).toContain(rebuilt.hostKeyFingerprint);
    await t.newWorker().runUntilIdle(30_000);
    const after = await t.db.buildHost.findUniqueOrThrow({ where: { id: "host-hh1" } });
    expect(after.health).toBe("healthy");
    expect(after.hostKey).toBe(rebuilt.hostKeyFingerprint);
  });

  it("drift: a workspace nobody accounts for is an orphan (never removed on its own); a vanished one is missing", async () => {
    const vm = vms.vm("hh1");
    const w = t.newWorker();
    const s = await t.manager.createSandbox("profile.ws", t.user);
    await w.runUntilIdle();
    expect((await t.manager.getSandbox(s.id)).status).toBe("ready");
    // By hand on the VM: one stray workspace, one vanished.
    const strayId = "strayabc12345";
    await runAs(vms.user, ["mkdir", path.join(vm.workspaceRoot, `sbx-${strayId}`)]);
    fs.writeFileSync(path.join(vm.workspaceRoot, `sbx-${strayId}`, "work"), "x");
    fs.rmSync(path.join(vm.workspaceRoot, `sbx-${s.id}`), { recursive: true });
    // Twice: nothing changes on a second pass (only when the orphan was last seen), nothing is deleted.
    const state = async () => ({
      orphans: (await listOrphans(t.manager)).map(({ lastSeenAt: _seen, ...o }) => o),
      sandbox: await t.db.sandbox.findUniqueOrThrow({ where: { id: s.id }, select: { status: true, statusReason: true, handle: true } }),
      events: await t.db.event.count({ where: { sandboxId: s.id } }),
      root: fs.readdirSync(vm.workspaceRoot).sort(),
      stray: fs.readdirSync(path.join(vm.workspaceRoot, `sbx-${strayId}`)).sort(),
    });
    await reconcile();
    const afterFirst = await state();
    expect(afterFirst.orphans.map((o) => o.name)).toEqual([`sbx-${strayId}`]);
    expect(afterFirst.sandbox.status).toBe("missing");
    await reconcile();
    expect(await state()).toEqual(afterFirst);
    const orphans = await listOrphans(t.manager);
    expect(orphans.map((o) => o.name)).toEqual([`sbx-${strayId}`]);
    expect(fs.existsSync(path.join(vm.workspaceRoot, `sbx-${strayId}`, "work"))).toBe(true);
    const missing = await t.manager.getSandbox(s.id);
    expect(missing.status).toBe("missing");
    expect(missing.statusReason).toContain("vanished");
    // A missing sandbox is closed by destroying it ("already gone").
    await t.manager.destroySandbox(s.id, t.user);
    await w.runUntilIdle();
    expect((await t.manager.getSandbox(s.id)).status).toBe("destroyed");

    // Adopt: becomes a sandbox owned by the admin, destroyable as usual.
    const adopted = await adoptOrphan(t.manager, t.admin, orphans[0]!.id);
    expect(adopted).toBe(strayId);
    const view = await t.manager.getSandbox(strayId);
    expect(view).toMatchObject({ status: "ready", owner: { id: (t.admin as { userId: string }).userId } });
    expect(view.handle?.workspacePath).toBe(path.join(vm.workspaceRoot, `sbx-${strayId}`));
    expect(await listOrphans(t.manager)).toEqual([]);
    await t.manager.destroySandbox(strayId, t.admin);
    await w.runUntilIdle();
    expect(fs.existsSync(path.join(vm.workspaceRoot, `sbx-${strayId}`))).toBe(false);
  });

  it("clean up removes exactly the orphan's directory, audited; a member cannot", async () => {
    const vm = vms.vm("hh1");
    const strayId = "strayxyz98765";
    await runAs(vms.user, ["mkdir", path.join(vm.workspaceRoot, `sbx-${strayId}`)]);
    fs.writeFileSync(path.join(vm.workspaceRoot, "keep-me"), "x");
    await reconcile();
    const [orphan] = await listOrphans(t.manager);
    expect(orphan?.name).toBe(`sbx-${strayId}`);
    await expect(cleanUpOrphan(t.manager, t.user, orphan!.id)).rejects.toMatchObject({ code: "FORBIDDEN" });
    await cleanUpOrphan(t.manager, t.admin, orphan!.id);
    await t.newWorker().runUntilIdle();
    expect(fs.existsSync(path.join(vm.workspaceRoot, `sbx-${strayId}`))).toBe(false);
    expect(fs.readFileSync(path.join(vm.workspaceRoot, "keep-me"), "utf8")).toBe("x");
    const audit = await t.db.event.findMany({ where: { type: "audit", action: "host.cleanup" }, orderBy: { id: "asc" } });
    expect(audit.map((a) => a.result)).toEqual(["ok", "ok"]);
    expect(audit.at(-1)?.message).toContain(`Removed orphan ${path.join(vm.workspaceRoot, `sbx-${strayId}`)}`);
    expect(await listOrphans(t.manager)).toEqual([]);
  });
});
