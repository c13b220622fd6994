// ext.vm-packer through the manager against real OpenSSH build VMs on loopback, real rsync and git.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { Worker } from "@/lib/manager/worker";

import { plantSymlink, run, runAs, stopBuildVms, type BuildVms } from "../support/build-vms";
import { waitForStatus } from "../support/manager-harness";
import { overwriteSandboxRow } from "../support/sandbox-rows";
import { createVmTestManager, hostEntryFor, startStandardVms, type VmTestManager } from "../support/vm-harness";

/** A checkout of `files` small files in nested directories, plus ignored ones. */
function makeTree(files: number): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-repo-"));
  for (let i = 0; i < files; i++) {
    const sub = path.join(dir, "src", `m${i % 40}`);
    fs.mkdirSync(sub, { recursive: true });
    fs.writeFileSync(path.join(sub, `f${i}.hs`), `module F${i} where\nx${i} = ${i}\n${"-- pad\n".repeat(i % 50)}`);
  }
  fs.writeFileSync(path.join(dir, ".gitignore"), "dist-newstyle/\n*.o\n");
  fs.mkdirSync(path.join(dir, "dist-newstyle"));
  fs.writeFileSync(path.join(dir, "dist-newstyle", "cache"), "ignored");
  fs.writeFileSync(path.join(dir, "Main.o"), "ignored");
  fs.writeFileSync(path.join(dir, "app.cabal"), "cabal-version: 3.0\nname: app\n");
  return dir;
}

function countFiles(dir: string): number {
  let n = 0;
  for (const d of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) if (d.isFile()) n++;
  return n;
}

describe("ext.vm-packer on real build VMs", () => {
  let vms: BuildVms;
  let t: VmTestManager;
  let tree: string;
  let bareRepo: string;

  beforeAll(async () => {
    vms = await startStandardVms();
    tree = makeTree(2000);
    // A repository the VM can clone (owned by the build user, as on a real VM).
    const repoRoot = path.join(vms.stateDir, "git");
    fs.mkdirSync(repoRoot, { mode: 0o755 });
    fs.chownSync(
      repoRoot,
      Number((await run(["id", "-u", vms.user])).stdout.trim()),
      Number((await run(["id", "-g", vms.user])).stdout.trim()),
    );
    bareRepo = path.join(repoRoot, "app.git");
    const work = path.join(repoRoot, "work");
    for (const argv of [
      ["git", "init", "-q", "-b", "main", work],
      ["git", "-C", work, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "init"],
      ["sh", "-c", `printf 'main = print 42\\n' > ${work}/Main.hs`],
      ["git", "-C", work, "add", "Main.hs"],
      ["git", "-C", work, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "main"],
      ["git", "-C", work, "branch", "feature-x"],
      ["git", "clone", "-q", "--bare", work, bareRepo],
    ]) {
      const r = await runAs(vms.user, argv);
      if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
    }
    const vm1 = vms.vm("vm1");
    t = await createVmTestManager("sqlite", vms, {
      config: { concurrency: 60, createTimeoutMs: 120_000 },
      profiles: {
        "vm-sync": { extension: "ext.vm-packer", params: { host: "host-vm1", repository: { path: tree } } },
        "vm-git": {
          extension: "ext.vm-packer",
          params: { hostLabel: "test-vm", repository: { git: bareRepo, ref: "main" } },
          inputs: { ref: { title: "Git ref", param: "repository.ref", pattern: "[A-Za-z0-9._/-]+" } },
        },
        "vm-empty": { extension: "ext.vm-packer", params: { hostLabel: "test-vm" } },
        "vm-tunnel": { extension: "ext.vm-packer", params: { host: "host-vm1" } },
        "vm-bad-key": { extension: "ext.vm-packer", params: { host: "host-badkey" } },
        "vm-no-listener": { extension: "ext.vm-packer", params: { host: "host-dead" } },
      },
      hosts: [
        ...vms.vms.map((vm) => hostEntryFor(vm)),
        // The same sshd as vm1, but the registry pins another key.
        hostEntryFor(vm1, { id: "host-badkey", labels: [], hostKey: vms.vm("vm2").hostKeyFingerprint }),
        // A port where nothing listens.
        hostEntryFor(vm1, { id: "host-dead", labels: [], port: 1 }),
      ],
    });
    expect(vm1.host).toBe("127.0.0.1");
  }, 120_000);

  afterAll(async () => {
    try {
      await t?.close();
    } finally {
      await stopBuildVms(vms);
      fs.rmSync(tree, { recursive: true, force: true });
    }
  });

  it("create → the workspace exists with the synced checkout (.gitignore respected); destroy → gone; again → fine", async () => {
    const w = t.newWorker();
    const s = await t.manager.createSandbox("profile.vm-sync", t.user);
    await w.runUntilIdle(120_000);
    const ready = await t.manager.getSandbox(s.id);
    expect(ready.statusReason).toBeNull();
    expect(ready.status).toBe("ready");
    const vm1 = vms.vm("vm1");
    const workspace = path.join(vm1.workspaceRoot, `sbx-${s.id}`);
    expect(ready.handle).toMatchObject({
      target: `${vm1.host}:${vm1.port}`,
      workspacePath: workspace,
      user: vms.user,
      hostKey: vm1.hostKeyFingerprint,
    });
    expect(fs.statSync(workspace).isDirectory()).toBe(true);
    expect(fs.statSync(workspace).mode & 0o777, "workspace mode (0700 unless the profile sets workspaceMode)").toBe(0o700);
    expect(countFiles(path.join(workspace, "src"))).toBe(2000);
    expect(fs.readFileSync(path.join(workspace, "src", "m7", "f7.hs"), "utf8")).toBe(
      fs.readFileSync(path.join(tree, "src", "m7", "f7.hs"), "utf8"),
    );
    expect(fs.existsSync(path.join(workspace, "dist-newstyle"))).toBe(false);
    expect(fs.existsSync(path.join(workspace, "Main.o"))).toBe(false);
    const stored = await t.db.sandbox.findUniqueOrThrow({ where: { id: s.id } });
    expect(stored.handle).toEqual({
      extension: "ext.vm-packer",
      host_id: "host-vm1",
      vm_target: vm1.host,
      ssh_port: vm1.port,
      ssh_user: vms.user,
      workspace_root: vm1.workspaceRoot,
      workspace_path: workspace,
      host_key: vm1.hostKeyFingerprint,
    });
    const log = (await t.manager.sandboxEvents(s.id)).map((e) => e.message).join("\n");
    expect(log).toMatch(/Synced \d+ entries/);
    // The registry learned the full host key (for the CLI's known_hosts).
    expect((await t.db.buildHost.findUniqueOrThrow({ where: { id: "host-vm1" } })).hostPublicKey).toBe(
      vm1.hostPublicKeyLine.split(" ").slice(0, 2).join(" "),
    );

    // A sibling's workspace and a file beside the workspace survive the teardown.
    const sibling = path.join(vm1.workspaceRoot, "sbx-sibling0001");
    fs.mkdirSync(sibling);
    fs.writeFileSync(path.join(sibling, "keep"), "x");
    fs.writeFileSync(path.join(vm1.workspaceRoot, "README"), "keep");
    await t.manager.destroySandbox(s.id, t.user);
    await w.runUntilIdle();
    expect((await t.manager.getSandbox(s.id)).status).toBe("destroyed");
    expect(fs.existsSync(workspace)).toBe(false);
    expect(fs.readFileSync(path.join(sibling, "keep"), "utf8")).toBe("x");
    expect(fs.readFileSync(path.join(vm1.workspaceRoot, "README"), "utf8")).toBe("keep");
    // Destroy again: harmless.
    await t.manager.destroySandbox(s.id, t.user);
    await w.runUntilIdle();
    expect((await t.manager.getSandbox(s.id)).status).toBe("destroyed");
    fs.rmSync(sibling, { recursive: true });
  });

  it("clones a git ref on the VM (the profile's input picks the branch)", async () => {
    const w = t.newWorker();
    const s = await t.manager.createSandbox("profile.vm-git", t.user, { ref: "feature-x" });
    await w.runUntilIdle(60_000);
    const ready = await t.manager.getSandbox(s.id);
    expect(ready.status, ready.statusReason ?? "").toBe("ready");
    const ws = ready.handle!.workspacePath!;
    expect(fs.readFileSync(path.join(ws, "Main.hs"), "utf8")).toBe("main = print 42\n");
    const branch = await runAs(vms.user, ["git", "-C", ws, "rev-parse", "--abbrev-ref", "HEAD"]);
    expect(branch.stdout.trim()).toBe("feature-x");
    await t.manager.destroySandbox(s.id, t.user);
    await w.runUntilIdle();
    expect(fs.existsSync(ws)).toBe(false);
  });

  it("a ref that does not exist → failed with git's reason, nothing left on the VM", async () => {
    const w = t.newWorker();
    const s = await t.manager.createSandbox("profile.vm-git", t.user, { ref: "no-such-branch" });
    await w.runUntilIdle(60_000);
    const failed = await t.manager.getSandbox(s.id);
    expect(failed.status).toBe("failed");
    expect(failed.statusReason).toContain("git clone");
    expect(failed.statusReason).toContain("no-such-branch");
    for (const vm of vms.vms) expect(fs.existsSync(path.join(vm.workspaceRoot, `sbx-${s.id}`))).toBe(false);
  });

  it("a wrong pinned key → failed naming host:port and both fingerprints; nothing was created", async () => {
    const w = t.newWorker();
    const s = await t.manager.createSandbox("profile.vm-bad-key", t.user);
    await w.runUntilIdle(30_000);
    const failed = await t.manager.getSandbox(s.id);
    const vm1 = vms.vm("vm1");
    expect(failed.status).toBe("failed");
    expect(failed.statusReason).toContain(`${vm1.host}:${vm1.port}`);
    expect(failed.statusReason).toContain(vm1.hostKeyFingerprint);
    expect(failed.statusReason).toContain(vms.vm("vm2").hostKeyFingerprint);
    expect(fs.existsSync(path.join(vm1.workspaceRoot, `sbx-${s.id}`))).toBe(false);
    // Its destroy needs no connection to succeed… but it does try, with the same pin, and refuses again.
    await t.manager.destroySandbox(s.id, t.user);
    await w.runUntilIdle(30_000);
    const after = await t.manager.getSandbox(s.id);
    expect(after.status).toBe("destroy_failed");
    expect(after.statusReason).toMatch(/host key/i);
  });

  it("a port with nothing listening → failed at once with a clear error", async () => {
    const w = t.newWorker();
    const started = Date.now();
    const s = await t.manager.createSandbox("profile.vm-no-listener", t.user);
    await w.runUntilIdle(30_000);
    const failed = await t.manager.getSandbox(s.id);
    expect(failed.status).toBe("failed");
    expect(failed.statusReason).toMatch(/127\.0\.0\.1:1\b.*(refused|nothing is listening)/i);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it("teardown refuses a symlink planted at the workspace path; its target survives", async () => {
    const w = t.newWorker();
    const s = await t.manager.createSandbox("profile.vm-tunnel", t.user);
    await w.runUntilIdle();
    const vm1 = vms.vm("vm1");
    const ws = path.join(vm1.workspaceRoot, `sbx-${s.id}`);
    const precious = fs.mkdtempSync(path.join(vms.stateDir, "precious-"));
    fs.writeFileSync(path.join(precious, "canary"), "alive");
    fs.rmSync(ws, { recursive: true });
    await plantSymlink(precious, ws);
    await t.manager.destroySandbox(s.id, t.user);
    await w.runUntilIdle();
    const after = await t.manager.getSandbox(s.id);
    expect(after.status).toBe("destroy_failed");
    expect(after.statusReason).toMatch(/symlink|symbolic link/i);
    expect(fs.readFileSync(path.join(precious, "canary"), "utf8")).toBe("alive");
    expect(fs.lstatSync(ws).isSymbolicLink()).toBe(true);
    // Once the symlink is gone, Retry succeeds ("already gone").
    fs.unlinkSync(ws);
    await t.manager.destroySandbox(s.id, t.user);
    await w.runUntilIdle();
    expect((await t.manager.getSandbox(s.id)).status).toBe("destroyed");
  });

  it("a tampered handle (a path that is not <root>/sbx-<id>) is refused before any connection", async () => {
    const w = t.newWorker();
    const s = await t.manager.createSandbox("profile.vm-tunnel", t.user);
    await w.runUntilIdle();
    const vm1 = vms.vm("vm1");
    const handle = (await t.db.sandbox.findUniqueOrThrow({ where: { id: s.id } })).handle as Record<string, unknown>;
    for (const bad of [vm1.workspaceRoot, `${vm1.workspaceRoot}/..`, `${vm1.workspaceRoot}/sbx-${s.id}/..`, "/"]) {
      await overwriteSandboxRow(t.db, s.id, { status: "ready", handle: { ...handle, workspace_path: bad } });
      await t.manager.destroySandbox(s.id, t.user);
      await w.runUntilIdle();
      const after = await t.manager.getSandbox(s.id);
      expect(after.status).toBe("destroy_failed");
      expect(after.statusReason).toContain("refusing");
    }
    expect(fs.existsSync(path.join(vm1.workspaceRoot, `sbx-${s.id}`))).toBe(true);
    await t.db.sandbox.update({ where: { id: s.id }, data: { handle: handle as object } });
    await t.manager.destroySandbox(s.id, t.user);
    await w.runUntilIdle();
    expect((await t.manager.getSandbox(s.id)).status).toBe("destroyed");
  });

  it("50 sandboxes created at once across the two VMs (default MaxStartups): all ready, no connection errors", async () => {
    // Placement ranks hosts by their last health check (free disk, then load) before the share already
    // used. Both VMs are this one machine; give them the figures of two hosts checked just now, vm2 a
    // little busier (0.5 per CPU more). Each pick since the check counts as load, so the burst still
    // reaches both (it all went to vm1, within its capacity of 60, when only the measured load counted).
    const now = new Date();
    for (const [id, loadAverage] of [
      ["host-vm1", 0.5],
      ["host-vm2", 1.5],
    ] as const)
      await t.db.buildHost.update({
        where: { id },
        data: {
          health: "healthy",
          checkedAt: now,
          healthyAt: now,
          freeBytes: 64n * 2n ** 30n,
          loadAverage,
          cpuCount: 2,
          freeMemoryBytes: 8n * 2n ** 30n,
        },
      });
    const worker = new Worker(t.manager, { id: "fifty", concurrency: 60 });
    const started = Date.now();
    const ids = await Promise.all(Array.from({ length: 50 }, () => t.manager.createSandbox("profile.vm-empty", t.user).then((s) => s.id)));
    await worker.runUntilIdle(180_000);
    const wall = Date.now() - started;
    const views = await Promise.all(ids.map((id) => t.manager.getSandbox(id)));
    const notReady = views.filter((v) => v.status !== "ready").map((v) => `${v.id}: ${v.status} ${v.statusReason}`);
    expect(notReady).toEqual([]);
    const perHost = new Map<string, number>();
    for (const v of views) perHost.set(v.host!.id, (perHost.get(v.host!.id) ?? 0) + 1);
    expect([...perHost.keys()].sort()).toEqual(["host-vm1", "host-vm2"]);
    for (const [id, n] of perHost) expect(n, `${id} of ${JSON.stringify(Object.fromEntries(perHost))}`).toBeGreaterThanOrEqual(10);
    const stats = t.pool.stats().hosts;
    for (const h of Object.values(stats)) expect(h.peakConnections).toBeLessThanOrEqual(4);
    console.log(
      `[measure] 50 concurrent creates over 2 VMs: ${wall} ms; per host ${JSON.stringify(Object.fromEntries(perHost))}; pool ${JSON.stringify(Object.fromEntries(Object.entries(stats).map(([k, v]) => [k, v.peakConnections])))}`,
    );
    await Promise.all(ids.map((id) => t.manager.destroySandbox(id, t.user)));
    await worker.runUntilIdle(180_000);
    for (const id of ids) expect((await t.manager.getSandbox(id)).status).toBe("destroyed");
    for (const vm of vms.vms) expect(fs.readdirSync(vm.workspaceRoot).filter((n) => n.startsWith("sbx-"))).toEqual([]);
  });

  it("waits for capacity instead of overfilling a host, and says why", async () => {
    const tc = await createVmTestManager("sqlite", vms, {
      profiles: { one: { extension: "ext.vm-packer", params: { host: "host-small" } } },
      hosts: [
        {
          id: "host-small",
          title: "small",
          address: vms.vm("vm2").host,
          port: vms.vm("vm2").port,
          user: vms.user,
          hostKey: vms.vm("vm2").hostKeyFingerprint,
          workspaceRoot: vms.vm("vm2").workspaceRoot,
          labels: [],
          capacity: 1,
        },
      ],
    });
    try {
      const w = tc.newWorker();
      w.start();
      const a = await tc.manager.createSandbox("profile.one", tc.user);
      await waitForStatus(tc.manager, a.id, ["ready"]);
      const b = await tc.manager.createSandbox("profile.one", tc.user);
      // The worker looks at it, finds the host full and records why; it stays queued.
      await expect
        .poll(async () => (await tc.manager.getSandboxDetail(b.id)).queue?.reason ?? null, { timeout: 15_000, interval: 50 })
        .toContain("small has 1/1 sandboxes");
      expect((await tc.manager.getSandboxDetail(b.id)).status).toBe("queued");
      await tc.manager.destroySandbox(a.id, tc.user);
      await waitForStatus(tc.manager, b.id, ["ready"], 30_000);
      await tc.manager.destroySandbox(b.id, tc.user);
      await waitForStatus(tc.manager, b.id, ["destroyed"]);
    } finally {
      await tc.close();
    }
  });
});
