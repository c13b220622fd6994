// The host lifecycle against real build VMs: placement by free disk (each VM's workspace root on a
// tmpfs of its own size) with a floor, cordon (a create waits with the reason, proceeds on
// uncordon), drain (lists what still runs), adding a host with its offered key confirmed (a wrong
// fingerprint refused), hosts.yaml hosts beside dashboard ones, removal refused while sandboxes live,
// editing one (labels and capacity steer placement; a new address needs its key confirmed again).
import fs from "node:fs";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { requestReconcile } from "@/lib/manager/host-ops";
import {
  addHost,
  confirmHostKey,
  cordonHost,
  drainHost,
  editAdminHost,
  hostDrainReport,
  removeHost,
  uncordonHost,
  VERIFY_COMMAND,
} from "@/lib/manager/host-lifecycle";
import { syncHosts } from "@/lib/hosts/host-sync";

import { startRelay } from "../../bench/relay";
import { markerPathOf, run, startBuildVms, stopBuildVms, type BuildVms } from "../support/build-vms";
import { waitForStatus } from "../support/manager-harness";
import { createVmTestManager, type VmTestManager } from "../support/vm-harness";

const MiB = 2 ** 20;

describe("host lifecycle", () => {
  let vms: BuildVms;
  let t: VmTestManager;
  const mounted: string[] = [];

  beforeAll(async () => {
    vms = await startBuildVms({
      vms: [
        { name: "hl1", address: "127.0.0.1" },
        { name: "hl2", address: "127.0.0.1" },
      ],
    });
    // Each VM's workspace root on a tmpfs of its own size: the loopback VMs share one disk otherwise.
    for (const [name, size] of [
      ["hl1", "48m"],
      ["hl2", "24m"],
    ] as const) {
      const root = vms.vm(name).workspaceRoot;
      const r = await run(["mount", "-t", "tmpfs", "-o", `size=${size},mode=0755`, "tmpfs", root]);
      if (r.code !== 0) throw new Error(`mount tmpfs on ${root}: ${r.stderr}`);
      mounted.push(root);
      await run(["chown", `${vms.user}:${vms.user}`, root]);
    }
    t = await createVmTestManager("sqlite", vms, {
      profiles: { ws: { extension: "ext.vm-packer", params: { hostLabel: "test-vm" } } },
      config: { healthIntervalMs: 3_600_000, minFreeBytes: 0 },
    });
    await checkAll();
  }, 90_000);

  afterAll(async () => {
    try {
      await t?.close();
    } finally {
      try {
        for (const root of mounted) await run(["umount", "--lazy", root]);
      } finally {
        await stopBuildVms(vms);
      }
    }
  });

  async function checkAll() {
    for (const h of ["host-hl1", "host-hl2"]) await requestReconcile(t.manager, h, t.admin);
    await t.newWorker().runUntilIdle(30_000);
  }

  async function createAndSettle(minFreeBytes = 0) {
    const s = await t.manager.createSandbox("profile.ws", t.user);
    await t.newWorker({ config: { minFreeBytes } }).runUntilIdle(30_000);
    return t.manager.getSandboxDetail(s.id);
  }

  async function logOf(id: string): Promise<string> {
    const rows = await t.db.event.findMany({ where: { sandboxId: id, type: "log" }, orderBy: { id: "asc" } });
    return rows.map((e) => e.message).join("\n");
  }

  async function destroy(id: string) {
    await t.manager.destroySandbox(id, t.user);
    await t.newWorker().runUntilIdle(30_000);
  }

  it("the health check records free disk, load, CPUs and memory", async () => {
    const hosts = await t.manager.listHosts();
    const hl1 = hosts.find((h) => h.id === "host-hl1")!;
    const hl2 = hosts.find((h) => h.id === "host-hl2")!;
    expect(hl1.freeBytes).toBeGreaterThan(40 * MiB);
    expect(hl1.freeBytes).toBeLessThanOrEqual(48 * MiB);
    expect(hl2.freeBytes).toBeLessThanOrEqual(24 * MiB);
    expect(hl1.loadAverage).toBeGreaterThanOrEqual(0);
    expect(hl1.cpuCount).toBeGreaterThanOrEqual(1);
    expect(hl1.freeMemoryBytes).toBeGreaterThan(0);
    expect(hl1.image).toBeNull();
    expect(hl1.imageDetail).toMatch(/no image marker/);
    expect(hl1.markerPath).toBe(markerPathOf(vms.vm("hl1")));
  });

  it("placement prefers the host with more free disk, skips one below the floor, waits when all are", async () => {
    const first = await createAndSettle();
    expect(first.status).toBe("ready");
    expect(first.host?.id).toBe("host-hl1");
    const log = await logOf(first.id);
    expect(log).toMatch(/Placed on Build VM hl1 \(4\d\.?\d* MiB free/);
    expect(log).toContain("over Build VM hl2");
    await destroy(first.id);

    // Fill hl1 below hl2: now hl2 has more room.
    fs.writeFileSync(`${vms.vm("hl1").workspaceRoot}/filler`, Buffer.alloc(36 * MiB));
    await checkAll();
    const second = await createAndSettle();
    expect(second.host?.id).toBe("host-hl2");
    await destroy(second.id);

    // A floor of 16 MiB: hl1 (about 12 MiB free) is not eligible, and the log says so.
    const third = await createAndSettle(16 * MiB);
    expect(third.host?.id).toBe("host-hl2");
    expect(await logOf(third.id)).toMatch(/not eligible: Build VM hl1: \d+ MiB free, below the floor of 16 MiB/);
    await destroy(third.id);

    // A floor above both: the create waits, and says why.
    const s = await t.manager.createSandbox("profile.ws", t.user);
    await t.newWorker({ config: { minFreeBytes: 64 * MiB } }).runUntilIdle(5_000);
    const waiting = await t.manager.getSandboxDetail(s.id);
    expect(waiting.status).toBe("queued");
    expect(waiting.queue?.reason).toMatch(/below the floor of 64 MiB.*below the floor of 64 MiB/);
    await destroy(s.id);
    fs.rmSync(`${vms.vm("hl1").workspaceRoot}/filler`);
    await checkAll();
  });

  it("cordon: a create waits with the reason; uncordon: it proceeds; drain lists what still runs (audited)", async () => {
    const running = await createAndSettle();
    expect(running.status).toBe("ready");
    const on = running.host!.id;
    const other = on === "host-hl1" ? "host-hl2" : "host-hl1";
    await expect(cordonHost(t.manager, t.user, on)).rejects.toMatchObject({ code: "FORBIDDEN" });
    const drained = await drainHost(t.manager, t.admin, on, "kernel update");
    expect(drained).toMatchObject({ hostId: on, cordoned: true, cordonReason: "kernel update", poolMembersDestroyed: 0 });
    expect(drained.remaining.map((r) => r.id)).toEqual([running.id]);
    expect(drained.remaining[0]!.expiresAt).toBe(running.expiresAt);
    expect(drained.summary).toContain(`the last expires at ${running.expiresAt}`);
    await cordonHost(t.manager, t.admin, other, "disk swap");

    const w = t.newWorker();
    w.start();
    try {
      const s = await t.manager.createSandbox("profile.ws", t.user);
      await expect
        .poll(async () => (await t.manager.getSandboxDetail(s.id)).queue?.reason ?? "", { timeout: 15_000, interval: 50 })
        .toMatch(/cordoned \(kernel update\).*cordoned \(disk swap\)|cordoned \(disk swap\).*cordoned \(kernel update\)/);
      expect((await t.manager.getSandbox(s.id)).status).toBe("queued");
      // The running sandbox was left alone.
      expect((await t.manager.getSandbox(running.id)).status).toBe("ready");
      await uncordonHost(t.manager, t.admin, other);
      await waitForStatus(t.manager, s.id, ["ready"], 30_000);
      expect((await t.manager.getSandbox(s.id)).host?.id).toBe(other);
      await t.manager.destroySandbox(s.id, t.user);
    } finally {
      await w.stop();
    }
    await destroy(running.id);
    expect((await hostDrainReport(t.manager, on)).remaining).toEqual([]);
    await uncordonHost(t.manager, t.admin, on);
    const actions = await t.db.event.findMany({
      where: { type: "audit", action: { in: ["host.cordon", "host.drain", "host.uncordon"] } },
      orderBy: { id: "asc" },
    });
    expect(actions.map((a) => `${a.action} ${a.target}`)).toEqual([
      `host.drain ${on}`,
      `host.cordon ${other}`,
      `host.uncordon ${other}`,
      `host.uncordon ${on}`,
    ]);
    expect(actions[0]!.message).toContain("1 sandbox still runs");
  });

  it("add a host: the offered key is shown, a wrong fingerprint is refused, the right one pinned, then checked", async () => {
    const vm = vms.vm("hl2");
    const input = {
      id: "added-hl2",
      address: vm.host,
      port: vm.port,
      user: vm.user,
      labels: ["added"],
      workspaceRoot: vm.workspaceRoot,
      markerPath: markerPathOf(vm),
    };
    await expect(addHost(t.manager, t.user, input)).rejects.toMatchObject({ code: "FORBIDDEN" });
    const added = await addHost(t.manager, t.admin, input);
    expect(added).toEqual({ hostId: "added-hl2", offeredHostKey: vm.hostKeyFingerprint, verifyCommand: VERIFY_COMMAND });
    let view = (await t.manager.listHosts()).find((h) => h.id === "added-hl2")!;
    expect(view).toMatchObject({ health: "unconfirmed", source: "admin", hostKey: "", offeredHostKey: vm.hostKeyFingerprint });
    await expect(addHost(t.manager, t.admin, input)).rejects.toMatchObject({ code: "HOST_EXISTS" });

    const wrong = vms.vm("hl1").hostKeyFingerprint;
    await expect(confirmHostKey(t.manager, t.admin, "added-hl2", wrong)).rejects.toMatchObject({ code: "KEY_MISMATCH" });
    view = (await t.manager.listHosts()).find((h) => h.id === "added-hl2")!;
    expect(view.health).toBe("unconfirmed");
    expect(view.hostKey).toBe("");
    await confirmHostKey(t.manager, t.admin, "added-hl2", vm.hostKeyFingerprint);
    await t.newWorker().runUntilIdle(30_000);
    view = (await t.manager.listHosts()).find((h) => h.id === "added-hl2")!;
    expect(view).toMatchObject({ health: "healthy", hostKey: vm.hostKeyFingerprint, offeredHostKey: null });
    const audits = await t.db.event.findMany({ where: { type: "audit", target: "added-hl2" }, orderBy: { id: "asc" } });
    expect(audits.map((a) => `${a.action}:${a.result}`)).toEqual(["host.add:ok", "host.confirm_key:denied", "host.confirm_key:ok"]);
    expect(audits[1]!.message).toContain(wrong);

    // hosts.yaml and dashboard hosts coexist: a re-sync of the file keeps the added host.
    await syncHosts(t.db, t.hosts, { low: 12200, high: 12999 });
    expect((await t.manager.listHosts()).map((h) => `${h.id}:${h.source}`)).toEqual([
      "added-hl2:admin",
      "host-hl1:config",
      "host-hl2:config",
    ]);
    // hosts.yaml wins on conflict: a config host cannot be removed here, and a file entry with the id takes it over.
    await expect(removeHost(t.manager, t.admin, "host-hl1")).rejects.toMatchObject({ code: "HOST_FROM_CONFIG" });
  });

  it("a host with live sandboxes cannot be removed, only drained; once empty it can (audited)", async () => {
    // Put a sandbox on the added host by cordoning the others.
    await cordonHost(t.manager, t.admin, "host-hl1");
    await cordonHost(t.manager, t.admin, "host-hl2");
    await t.db.buildHost.update({ where: { id: "added-hl2" }, data: { labels: ["added", "test-vm"] } });
    const s = await createAndSettle();
    expect(s.host?.id).toBe("added-hl2");
    await expect(removeHost(t.manager, t.admin, "added-hl2")).rejects.toMatchObject({ code: "HOST_HAS_SANDBOXES" });
    const report = await drainHost(t.manager, t.admin, "added-hl2");
    expect(report.remaining.map((r) => r.id)).toEqual([s.id]);
    await destroy(s.id);
    await removeHost(t.manager, t.admin, "added-hl2");
    expect((await t.manager.listHosts()).map((h) => h.id)).toEqual(["host-hl1", "host-hl2"]);
    expect(await t.db.event.count({ where: { type: "audit", action: "host.remove", target: "added-hl2" } })).toBe(1);
    await uncordonHost(t.manager, t.admin, "host-hl1");
    await uncordonHost(t.manager, t.admin, "host-hl2");
  });
  it("edit a host: labels and capacity steer placement, a hosts.yaml host is refused, a new address waits for its key (audited)", async () => {
    const hl1 = vms.vm("hl1");
    const hl2 = vms.vm("hl2");
    await addHost(t.manager, t.admin, {
      id: "edit-hl2",
      address: hl2.host,
      port: hl2.port,
      user: hl2.user,
      labels: ["spare"],
      workspaceRoot: hl2.workspaceRoot,
      markerPath: markerPathOf(hl2),
    });
    await confirmHostKey(t.manager, t.admin, "edit-hl2", hl2.hostKeyFingerprint);
    await t.newWorker().runUntilIdle(30_000);

    await expect(editAdminHost(t.manager, t.user, "edit-hl2", { capacity: 2 })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(editAdminHost(t.manager, t.admin, "host-hl1", { capacity: 2 })).rejects.toMatchObject({
      code: "HOST_FROM_CONFIG",
      message: expect.stringContaining("hosts.yaml"),
    });
    // Only the edited host may take the profile's label now: hosts.yaml ones are cordoned.
    await cordonHost(t.manager, t.admin, "host-hl1");
    await cordonHost(t.manager, t.admin, "host-hl2");
    const reasonOf = async (id: string) => (await t.manager.getSandboxDetail(id)).queue?.reason ?? "";
    const w = t.newWorker();
    w.start();
    try {
      const before = await t.manager.createSandbox("profile.ws", t.user);
      await expect.poll(() => reasonOf(before.id), { timeout: 15_000, interval: 50 }).toMatch(/cordoned/);
      expect(await editAdminHost(t.manager, t.admin, "edit-hl2", { labels: ["spare", "test-vm"], capacity: 1 })).toEqual({
        hostId: "edit-hl2",
        changed: ["labels", "capacity"],
        keyConfirmation: null,
      });
      await waitForStatus(t.manager, before.id, ["ready"], 30_000);
      expect((await t.manager.getSandbox(before.id)).host?.id).toBe("edit-hl2");
      // Capacity 1 is full: the next one waits until the capacity is raised.
      const second = await t.manager.createSandbox("profile.ws", t.user);
      await expect.poll(() => reasonOf(second.id), { timeout: 15_000, interval: 50 }).toMatch(/edit-hl2 has 1\/1 sandboxes/);
      expect((await t.manager.getSandbox(second.id)).status).toBe("queued");
      await editAdminHost(t.manager, t.admin, "edit-hl2", { capacity: 2 });
      await waitForStatus(t.manager, second.id, ["ready"], 30_000);
      expect((await t.manager.getSandbox(second.id)).host?.id).toBe("edit-hl2");

      // Where it is reached cannot change under live sandboxes (their handles name it).
      await expect(editAdminHost(t.manager, t.admin, "edit-hl2", { port: hl1.port })).rejects.toMatchObject({
        code: "HOST_HAS_SANDBOXES",
      });
      for (const id of [before.id, second.id]) await t.manager.destroySandbox(id, t.user);
      for (const id of [before.id, second.id]) await waitForStatus(t.manager, id, ["destroyed"], 30_000);

      // A new address is never trusted on the old pin: the host waits for the key it offers there.
      const moved = await editAdminHost(t.manager, t.admin, "edit-hl2", { port: hl1.port });
      expect(moved).toEqual({
        hostId: "edit-hl2",
        changed: ["port"],
        keyConfirmation: { offeredHostKey: hl1.hostKeyFingerprint, verifyCommand: VERIFY_COMMAND },
      });
      let view = (await t.manager.listHosts()).find((h) => h.id === "edit-hl2")!;
      expect(view).toMatchObject({ health: "unconfirmed", hostKey: "", offeredHostKey: hl1.hostKeyFingerprint, port: hl1.port });
      const waits = await t.manager.createSandbox("profile.ws", t.user);
      await expect
        .poll(() => reasonOf(waits.id), { timeout: 15_000, interval: 50 })
        .toMatch(/Moved to .*waiting for an admin to confirm the host key/);
      await expect(confirmHostKey(t.manager, t.admin, "edit-hl2", hl2.hostKeyFingerprint)).rejects.toMatchObject({
        code: "KEY_MISMATCH",
      });
      await confirmHostKey(t.manager, t.admin, "edit-hl2", hl1.hostKeyFingerprint);
      await waitForStatus(t.manager, waits.id, ["ready"], 30_000);
      // The check the confirmation asked for may still be running (a host not yet checked takes creates).
      await expect
        .poll(async () => (await t.manager.listHosts()).find((h) => h.id === "edit-hl2")?.health, { timeout: 15_000, interval: 50 })
        .toBe("healthy");
      view = (await t.manager.listHosts()).find((h) => h.id === "edit-hl2")!;
      expect(view).toMatchObject({ health: "healthy", hostKey: hl1.hostKeyFingerprint });
      expect((await t.manager.getSandbox(waits.id)).host?.id).toBe("edit-hl2");
      await t.manager.destroySandbox(waits.id, t.user);
      await waitForStatus(t.manager, waits.id, ["destroyed"], 30_000);
    } finally {
      await w.stop();
    }

    const edits = await t.db.event.findMany({ where: { type: "audit", action: "host.edit", target: "edit-hl2" }, orderBy: { id: "asc" } });
    expect(edits.map((e) => e.message)).toEqual([
      'edit-hl2: changed labels ["spare"] → ["spare","test-vm"], capacity 10 → 1',
      "edit-hl2: changed capacity 1 → 2",
      `edit-hl2: changed port ${hl2.port} → ${hl1.port}; it offered ${hl1.hostKeyFingerprint}, waiting for confirmation (was ${hl2.hostKeyFingerprint})`,
    ]);
    expect(edits.every((e) => e.result === "ok" && e.actorLabel !== null)).toBe(true);
    await removeHost(t.manager, t.admin, "edit-hl2");
    await uncordonHost(t.manager, t.admin, "host-hl1");
    await uncordonHost(t.manager, t.admin, "host-hl2");
  });

  it("dropping a host's tunnel needs its own address: refused without one (naming the field), and the port is 22 unless given", async () => {
    const hl2 = vms.vm("hl2");
    await addHost(t.manager, t.admin, { id: "tunnel-hl2", tunnelPort: hl2.port, user: hl2.user, workspaceRoot: hl2.workspaceRoot });
    let view = (await t.manager.listHosts()).find((h) => h.id === "tunnel-hl2")!;
    expect(view).toMatchObject({ address: "127.0.0.1", port: hl2.port, tunnelPort: hl2.port, offeredHostKey: hl2.hostKeyFingerprint });
    // Alone it would leave a host at 127.0.0.1:<its old tunnel port>, no longer recorded as a tunnel.
    await expect(editAdminHost(t.manager, t.admin, "tunnel-hl2", { tunnelPort: null })).rejects.toMatchObject({
      code: "VALIDATION_FAILED",
      message: expect.stringContaining("needs the VM's own address"),
      fieldErrors: { address: ["required when the tunnel port is dropped"] },
    });
    view = (await t.manager.listHosts()).find((h) => h.id === "tunnel-hl2")!;
    expect(view).toMatchObject({ address: "127.0.0.1", port: hl2.port, tunnelPort: hl2.port });
    // An address without a port means port 22, as in an add (nothing answers on 127.0.0.3:22 here: the
    // probe of the key it offers there fails, naming where it looked, and nothing is changed).
    await expect(editAdminHost(t.manager, t.admin, "tunnel-hl2", { tunnelPort: null, address: "127.0.0.3" })).rejects.toThrow(
      /127\.0\.0\.3:22\b/,
    );
    expect((await t.manager.listHosts()).find((h) => h.id === "tunnel-hl2")).toMatchObject({ port: hl2.port, tunnelPort: hl2.port });
    // With the address, and its port: the host is where the VM answers.
    const moved = await editAdminHost(t.manager, t.admin, "tunnel-hl2", { tunnelPort: null, address: hl2.host, port: hl2.port });
    expect(moved).toMatchObject({ changed: ["tunnelPort"], keyConfirmation: null });
    view = (await t.manager.listHosts()).find((h) => h.id === "tunnel-hl2")!;
    expect(view).toMatchObject({ address: hl2.host, port: hl2.port, tunnelPort: null });
    await removeHost(t.manager, t.admin, "tunnel-hl2");
  });

  it("two admins at once: a double add, two edits, one tunnel port given twice — one wins, the other is told why (no 500)", async () => {
    const hl2 = vms.vm("hl2");
    const input = (id: string, extra: object = {}) => ({
      id,
      address: hl2.host,
      port: hl2.port,
      user: hl2.user,
      workspaceRoot: hl2.workspaceRoot,
      ...extra,
    });
    const outcome = (p: Promise<unknown>) =>
      p.then(
        () => "ok",
        (e: { code?: string; fieldErrors?: object }) => `${e.code}${e.fieldErrors ? ` ${Object.keys(e.fieldErrors).join(",")}` : ""}`,
      );
    // Both pass the "already registered?" check before either has probed the key and written.
    const adds = await Promise.all([
      outcome(addHost(t.manager, t.admin, input("race-a"))),
      outcome(addHost(t.manager, t.admin, input("race-a"))),
    ]);
    expect(adds.sort()).toEqual(["HOST_EXISTS", "ok"]);
    // Two edits decided on the same settings: the second writes nothing and says so.
    const edits = await Promise.all([
      outcome(editAdminHost(t.manager, t.admin, "race-a", { capacity: 3 })),
      outcome(editAdminHost(t.manager, t.admin, "race-a", { capacity: 5, title: "Race A" })),
    ]);
    expect(edits).toEqual(["ok", "HOST_CHANGED"]);
    expect((await t.manager.listHosts()).find((h) => h.id === "race-a")).toMatchObject({ capacity: 3, title: "race-a" });
    const audited = await t.manager.auditLog(t.admin, { action: "host.edit", target: "race-a", limit: 10 });
    expect(audited.map((e) => e.message)).toEqual(["race-a: changed capacity 10 → 3"]);
    // One free tunnel port given to two new hosts at once: one holds it, the other names the field.
    const port = hl2.port;
    const tunnels = await Promise.all([
      outcome(addHost(t.manager, t.admin, { id: "race-t1", tunnelPort: port, user: hl2.user, workspaceRoot: hl2.workspaceRoot })),
      outcome(addHost(t.manager, t.admin, { id: "race-t2", tunnelPort: port, user: hl2.user, workspaceRoot: hl2.workspaceRoot })),
    ]);
    expect(tunnels.sort()).toEqual(["VALIDATION_FAILED tunnelPort", "ok"]);
    for (const id of ["race-a", "race-t1", "race-t2"]) await removeHost(t.manager, t.admin, id).catch(() => undefined);
  });

  /** The data of the last `host.changed` team notice about a host. */
  async function lastHostNotice(hostId: string): Promise<unknown> {
    const rows = await t.db.event.findMany({ where: { type: "team", action: "host.changed" }, orderBy: { id: "desc" }, take: 50 });
    return rows.map((r) => r.data as { hostId?: string }).find((d) => d.hostId === hostId);
  }

  it("a create sent while an edit moves the host (its new key being probed) waits: it never keeps the old address", async () => {
    const hl1 = vms.vm("hl1");
    const hl2 = vms.vm("hl2");
    await addHost(t.manager, t.admin, {
      id: "move-hl2",
      address: hl2.host,
      port: hl2.port,
      user: hl2.user,
      labels: ["test-vm"],
      workspaceRoot: hl2.workspaceRoot,
      markerPath: markerPathOf(hl2),
    });
    await confirmHostKey(t.manager, t.admin, "move-hl2", hl2.hostKeyFingerprint);
    await cordonHost(t.manager, t.admin, "host-hl1");
    await cordonHost(t.manager, t.admin, "host-hl2");
    // The new address answers slowly: the edit's key probe takes a few seconds, as a far VM's would.
    const relay = await startRelay({ upstreamHost: hl1.host, upstreamPort: hl1.port, rttMs: 800 });
    const w = t.newWorker();
    w.start();
    try {
      const moving = editAdminHost(t.manager, t.admin, "move-hl2", { port: relay.port });
      await expect.poll(() => relay.connections(), { timeout: 10_000, interval: 20 }).toBeGreaterThan(0);
      // The probe is under way: the host is held, for a create and for another admin alike.
      const s = await t.manager.createSandbox("profile.ws", t.user);
      await expect
        .poll(async () => (await t.manager.getSandboxDetail(s.id)).queue?.reason ?? "", { timeout: 10_000, interval: 50 })
        .toMatch(/move-hl2: an admin is changing where it is reached/);
      await expect(removeHost(t.manager, t.admin, "move-hl2")).rejects.toMatchObject({ code: "HOST_CHANGED" });
      // The hosts page shows it: in the list, and in the notice its stream applies.
      const listed = (await t.manager.listHosts()).find((h) => h.id === "move-hl2")!;
      expect(Date.parse(listed.editingSince ?? "")).toBeGreaterThan(Date.now() - 60_000);
      expect(await lastHostNotice("move-hl2")).toMatchObject({ host: { editingSince: listed.editingSince } });
      expect(await moving).toMatchObject({ changed: ["port"], keyConfirmation: { offeredHostKey: hl1.hostKeyFingerprint } });
      expect((await t.manager.listHosts()).find((h) => h.id === "move-hl2")).toMatchObject({ editingSince: null });
      expect(await lastHostNotice("move-hl2")).toMatchObject({ host: { editingSince: null, port: relay.port } });
      // Moved: the create still waits, now for the new key to be confirmed, and was never placed on the old port.
      await expect
        .poll(async () => (await t.manager.getSandboxDetail(s.id)).queue?.reason ?? "", { timeout: 10_000, interval: 50 })
        .toMatch(/Moved to .*waiting for an admin to confirm the host key/);
      const row = await t.db.sandbox.findUniqueOrThrow({ where: { id: s.id } });
      expect(row).toMatchObject({ status: "queued", handle: null });
      expect(fs.existsSync(`${hl2.workspaceRoot}/sbx-${s.id}`)).toBe(false);
      await t.manager.destroySandbox(s.id, t.user);
      await waitForStatus(t.manager, s.id, ["destroyed"], 30_000);
    } finally {
      await w.stop();
      await relay.close();
    }
    await removeHost(t.manager, t.admin, "move-hl2");
    await uncordonHost(t.manager, t.admin, "host-hl1");
    await uncordonHost(t.manager, t.admin, "host-hl2");
  });
});
