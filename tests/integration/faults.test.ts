// Nothing stuck, nothing orphaned, nothing lost — under faults, against real sshd and real databases:
// a worker killed with SIGKILL mid-sync, sshd stopped mid-create, a host that never answers, a destroy
// while the host is down, a file the build user cannot delete, two instances destroying at once, expiry.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from "vitest";
import { stringify } from "yaml";

import { expireSandboxes } from "@/lib/manager/maintenance";
import { Worker } from "@/lib/manager/worker";

import {
  restartVm,
  runAs,
  startBuildVms,
  startSilentTcpServer,
  stopBuildVms,
  stopVm,
  type BuildVms,
  type SilentTcpServer,
} from "../support/build-vms";
import { waitForStatus } from "../support/manager-harness";
import { numberedTree } from "../support/trees";
import { createVmTestManager, hostEntryFor, type VmTestManager } from "../support/vm-harness";
import { startWorkerProcess } from "../support/worker-process";

function workspaces(root: string): string[] {
  return fs
    .readdirSync(root)
    .filter((n) => n.startsWith("sbx-"))
    .sort();
}

async function waitForLog(t: VmTestManager, id: string, pattern: RegExp, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await t.manager.sandboxEvents(id)).some((e) => pattern.test(e.message))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no log line matching ${pattern} for ${id}`);
}

describe("faults", () => {
  let vms: BuildVms;
  let t: VmTestManager;
  let tree: string;
  let silent: SilentTcpServer;

  beforeAll(async () => {
    vms = await startBuildVms({ vms: [{ name: "f1", address: "127.0.0.1" }] });
    tree = numberedTree(12_000, { dirs: 200, repeat: 20, prefix: "sbx-faults-tree-" });
    silent = await startSilentTcpServer("127.0.0.1");
    const vm = vms.vm("f1");
    t = await createVmTestManager("sqlite", vms, {
      config: { leaseMs: 2_000, heartbeatMs: 500, createTimeoutMs: 60_000, destroyTimeoutMs: 20_000, retryBackoffMs: 100 },
      hosts: [hostEntryFor(vm, { labels: [] }), { ...hostEntryFor(vm), id: "host-silent", port: silent.port, labels: [] }],
      profiles: {
        slow: { extension: "ext.vm-packer", params: { host: "host-f1", repository: { path: tree } } },
        empty: { extension: "ext.vm-packer", params: { host: "host-f1" } },
        silent: { extension: "ext.vm-packer", params: { host: "host-silent" } },
      },
    });
    fs.writeFileSync(path.join(t.configDir, "hosts.yaml"), stringify({ apiVersion: "sandboxer.dev/v1", hosts: t.hosts }));
  }, 120_000);

  afterAll(async () => {
    try {
      await t?.close();
      await silent?.close();
    } finally {
      await stopBuildVms(vms);
      fs.rmSync(tree, { recursive: true, force: true });
    }
  });

  it("a worker killed with SIGKILL during the sync: another worker finishes; never stuck in creating, no untracked workspace", async () => {
    const root = vms.vm("f1").workspaceRoot;
    const before = workspaces(root);
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-worker-data-"));
    onTestFinished(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const env = {
      DATABASE_URL: t.database.config.url,
      SANDBOXER_CONFIG_DIR: t.configDir,
      SANDBOXER_DATA_DIR: dataDir,
      SANDBOXER_SSH_IDENTITY: vms.identityFile,
      SANDBOXER_LEASE: "2s",
      SANDBOXER_WORKER_POLL: "100ms",
      SANDBOXER_HEALTH_INTERVAL: "1h",
    };
    const s = await t.manager.createSandbox("profile.slow", t.user);
    const a = startWorkerProcess(env);
    await waitForLog(t, s.id, /Syncing/, 60_000);
    // Mid-transfer: the first synced entries have reached the workspace (the VM is this machine).
    const workspace = path.join(root, `sbx-${s.id}`);
    await vi.waitFor(() => expect(fs.readdirSync(workspace).length).toBeGreaterThan(0), { timeout: 60_000, interval: 10 });
    expect((await t.manager.getSandbox(s.id)).status).toBe("creating");
    await a.kill("SIGKILL");
    // The dead worker's sandbox is recorded, with a handle naming exactly what may exist.
    const handle = (await t.db.sandbox.findUniqueOrThrow({ where: { id: s.id } })).handle as { workspace_path: string };
    expect(handle.workspace_path).toBe(path.join(root, `sbx-${s.id}`));
    const b = startWorkerProcess(env);
    try {
      // rsync dies with its worker (pdeathsig), so the retry's cleanup has nothing racing it: the second
      // attempt removes the half-synced workspace, starts from scratch and finishes.
      const end = await waitForStatus(t.manager, s.id, ["ready", "failed"], 90_000);
      expect(end, (await t.manager.getSandbox(s.id)).statusReason ?? "").toBe("ready");
      expect(workspaces(root).filter((n) => !before.includes(n))).toEqual([`sbx-${s.id}`]);
      expect(fs.readFileSync(path.join(workspace, "d7", "f7"), "utf8")).toBe("7\n".repeat(20));
      expect(fs.readFileSync(path.join(workspace, "d199", "f11999"), "utf8")).toBe("11999\n".repeat(20));
      const op = await t.db.operation.findFirstOrThrow({ where: { sandboxId: s.id, kind: "create" } });
      expect(op.attempt).toBe(2);
      const log = (await t.manager.sandboxEvents(s.id)).map((e) => e.message).join("\n");
      expect(log).toContain("stopped responding");
      expect(log).toContain("cleaning up what the previous attempt left");
    } finally {
      await b.kill("SIGTERM");
    }
    await t.manager.destroySandbox(s.id, t.user);
    await t.newWorker().runUntilIdle(60_000);
    expect(workspaces(root).filter((n) => !before.includes(n))).toEqual([]);
  });

  it("sshd stopped during a create: failed with the reason; destroy after it returns leaves nothing", async () => {
    const vm = vms.vm("f1");
    const w = t.newWorker();
    w.start();
    const s = await t.manager.createSandbox("profile.slow", t.user);
    await waitForLog(t, s.id, /Syncing/);
    await stopVm(vm);
    await waitForStatus(t.manager, s.id, ["failed"], 60_000);
    const failed = await t.manager.getSandbox(s.id);
    expect(failed.statusReason).toMatch(/rsync|SSH|connection/i);
    expect(failed.statusReason).toContain("cleanup failed too");
    await restartVm(vm);
    await t.manager.destroySandbox(s.id, t.user);
    await waitForStatus(t.manager, s.id, ["destroyed"], 30_000);
    await w.stop();
    expect(fs.existsSync(path.join(vm.workspaceRoot, `sbx-${s.id}`))).toBe(false);
  });

  it("a host that accepts TCP but never answers: failed within the connect timeout; once known unreachable, creates wait and say why", async () => {
    const w = t.newWorker();
    // Not yet checked by the health checker (the worker process above may have found it unreachable).
    await t.db.buildHost.update({ where: { id: "host-silent" }, data: { health: "unknown", healthDetail: null } });
    const started = Date.now();
    const s = await t.manager.createSandbox("profile.silent", t.user);
    await w.runUntilIdle(60_000);
    const failed = await t.manager.getSandbox(s.id);
    expect(failed.status).toBe("failed");
    expect(failed.statusReason).toMatch(/did not (answer|finish|complete)|timed? ?out|timeout/i);
    expect(Date.now() - started).toBeLessThan(30_000);
    // The health check finds it unreachable; a new create waits in the queue, saying so.
    const { requestReconcile } = await import("@/lib/manager/host-ops");
    await requestReconcile(t.manager, "host-silent", t.admin);
    await w.runUntilIdle(30_000);
    expect((await t.db.buildHost.findUniqueOrThrow({ where: { id: "host-silent" } })).health).toBe("unreachable");
    const waiting = await t.manager.createSandbox("profile.silent", t.user);
    await w.runUntilIdle(30_000);
    const detail = await t.manager.getSandboxDetail(waiting.id);
    expect(detail.status).toBe("queued");
    expect(detail.queue?.reason).toMatch(/unreachable/);
    await t.manager.destroySandbox(waiting.id, t.user);
    await w.runUntilIdle();
  });

  it("destroy while the host is unreachable → destroy_failed with the reason; nothing touched; Retry succeeds once it is back", async () => {
    const vm = vms.vm("f1");
    const w = t.newWorker();
    const s = await t.manager.createSandbox("profile.empty", t.user);
    await w.runUntilIdle();
    const ws = path.join(vm.workspaceRoot, `sbx-${s.id}`);
    fs.writeFileSync(path.join(ws, "work"), "precious until destroyed");
    await stopVm(vm);
    await t.manager.destroySandbox(s.id, t.user);
    await w.runUntilIdle(30_000);
    const failed = await t.manager.getSandbox(s.id);
    expect(failed.status).toBe("destroy_failed");
    expect(failed.statusReason).toMatch(/refused|nothing is listening/i);
    expect(fs.readFileSync(path.join(ws, "work"), "utf8")).toBe("precious until destroyed");
    await restartVm(vm);
    await t.manager.destroySandbox(s.id, t.user);
    await w.runUntilIdle(30_000);
    expect((await t.manager.getSandbox(s.id)).status).toBe("destroyed");
    expect(fs.existsSync(ws)).toBe(false);
  });

  it("a file the build user cannot delete → a partial failure naming the path, retryable, never reported as success", async () => {
    const vm = vms.vm("f1");
    const w = t.newWorker();
    const s = await t.manager.createSandbox("profile.empty", t.user);
    await w.runUntilIdle();
    const ws = path.join(vm.workspaceRoot, `sbx-${s.id}`);
    await runAs(vms.user, ["sh", "-c", `echo mine > "$1/mine"`, "sh", ws]);
    // root-owned directory with a file inside: the build user cannot remove its contents.
    fs.mkdirSync(path.join(ws, "root-owned"), { mode: 0o755 });
    fs.writeFileSync(path.join(ws, "root-owned", "stuck"), "x");
    await t.manager.destroySandbox(s.id, t.user);
    await w.runUntilIdle(30_000);
    const partial = await t.manager.getSandbox(s.id);
    expect(partial.status).toBe("destroy_failed");
    expect(partial.statusReason).toContain(path.join(ws, "root-owned"));
    const teardown = await t.db.event.findFirst({
      where: { type: "audit", action: "sandbox.teardown", target: s.id },
      orderBy: { id: "desc" },
    });
    expect(teardown?.result).toBe("failed");
    fs.rmSync(path.join(ws, "root-owned"), { recursive: true });
    await t.manager.destroySandbox(s.id, t.user);
    await w.runUntilIdle(30_000);
    expect((await t.manager.getSandbox(s.id)).status).toBe("destroyed");
    expect(fs.existsSync(ws)).toBe(false);
  });

  it("expiry destroys an expired sandbox, as the system, audited", async () => {
    const w = t.newWorker();
    const s = await t.manager.createSandbox("profile.empty", t.user);
    await w.runUntilIdle();
    await t.db.sandbox.update({ where: { id: s.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    expect(await expireSandboxes(t.manager)).toEqual([s.id]);
    await w.runUntilIdle();
    const gone = await t.manager.getSandbox(s.id);
    expect(gone.status).toBe("destroyed");
    const audit = await t.db.event.findFirst({ where: { type: "audit", action: "sandbox.destroy", target: s.id } });
    expect(audit?.actorLabel).toBe("system (expiry)");
    expect(audit?.actorId).toBeNull();
  });
});

describe("two instances on PostgreSQL", () => {
  let vms: BuildVms;
  let t: VmTestManager;

  beforeAll(async () => {
    vms = await startBuildVms({ vms: [{ name: "pg1", address: "127.0.0.1" }] });
    t = await createVmTestManager("postgresql", vms, { profiles: { empty: { extension: "ext.vm-packer", params: { host: "host-pg1" } } } });
  }, 60_000);

  afterAll(async () => {
    try {
      await t?.close();
    } finally {
      await stopBuildVms(vms);
    }
  });

  it("both asked to destroy the same sandbox at the same moment → one teardown, one teardown audit, both see destroyed", async () => {
    const m2 = t.secondManager();
    const w1 = t.newWorker({ id: "inst-1" });
    const w2 = new Worker(m2, { id: "inst-2" });
    const s = await t.manager.createSandbox("profile.empty", t.user);
    await w1.runUntilIdle();
    const [a, b] = await Promise.all([t.manager.destroySandbox(s.id, t.user), m2.destroySandbox(s.id, t.user)]);
    expect([a.status, b.status]).toEqual(["destroying", "destroying"]);
    await Promise.all([w1.runUntilIdle(), w2.runUntilIdle()]);
    expect((await t.manager.getSandbox(s.id)).status).toBe("destroyed");
    expect((await m2.getSandbox(s.id)).status).toBe("destroyed");
    expect(await t.db.operation.count({ where: { sandboxId: s.id, kind: "destroy" } })).toBe(1);
    expect(await t.db.event.count({ where: { type: "audit", action: "sandbox.teardown", target: s.id } })).toBe(1);
    const log = (await t.manager.sandboxEvents(s.id)).filter((e) => e.message.startsWith("Removed "));
    expect(log).toHaveLength(1);
  });
});
