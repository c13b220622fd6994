// Two "machines" (worker processes with their own data directories, so their own machine-id and
// their own local workspace root) on one PostgreSQL database: a local sandbox records the machine
// whose worker created it, and only workers there run its operations; the other machine's worker
// leaves them, and the sandbox says which machine it waits for.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { TEST_AUTH_SECRET } from "../support/app-server";
import { createTestManager, type TestManager } from "../support/manager-harness";
import { startWorkerProcess, type WorkerProcess } from "../support/worker-process";

describe("local sandboxes on two machines", () => {
  let t: TestManager;
  const dirs: string[] = [];
  const procs: WorkerProcess[] = [];
  let m1: string;
  let m2: string;

  const machine = () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-machine-"));
    dirs.push(dataDir);
    return dataDir;
  };
  const startWorker = (dataDir: string) => {
    const w = startWorkerProcess({
      DATABASE_URL: t.database.config.url,
      BETTER_AUTH_SECRET: TEST_AUTH_SECRET,
      SANDBOXER_CONFIG_DIR: t.configDir,
      SANDBOXER_DATA_DIR: dataDir,
      SANDBOXER_LEASE: "3s",
      SANDBOXER_WORKER_POLL: "100ms",
      SANDBOXER_HEALTH_INTERVAL: "1h",
    });
    procs.push(w);
    return w;
  };
  const machineIdFile = (dataDir: string) => fs.readFileSync(path.join(dataDir, "machine-id"), "utf8").trim();
  const workspaces = (dataDir: string) => {
    const root = path.join(dataDir, "workspaces");
    return fs.existsSync(root)
      ? fs
          .readdirSync(root)
          .filter((n) => n.startsWith("sbx-"))
          .sort()
      : [];
  };

  beforeAll(async () => {
    t = await createTestManager("postgresql", {
      includeRepoManifests: true,
      manifests: [],
      profiles: { scratch: { extension: "ext.local", params: {} } },
    });
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill("SIGKILL")));
    await t?.close();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it("each machine's worker runs only its own local sandboxes; a destroy waits for the machine that holds the workspace", async () => {
    const d1 = machine();
    const d2 = machine();
    const w1 = startWorker(d1);
    const created = await Promise.all([1, 2, 3].map(() => t.manager.createSandbox("profile.scratch", t.user)));
    const ids = created.map((s) => s.id);
    await expect
      .poll(() => t.db.sandbox.count({ where: { id: { in: ids }, status: "ready" } }), { timeout: 60_000, interval: 100 })
      .toBe(3);
    m1 = machineIdFile(d1);
    const bound = await t.db.sandbox.findMany({ where: { id: { in: ids } }, select: { machineId: true } });
    expect(bound.map((b) => b.machineId)).toEqual([m1, m1, m1]);
    expect(workspaces(d1)).toEqual(ids.map((id) => `sbx-${id}`).sort());

    // Machine 1's worker stops; machine 2's runs. Destroys of machine 1's sandboxes wait for it.
    await w1.kill("SIGTERM");
    const w2 = startWorker(d2);
    await expect.poll(() => (fs.existsSync(path.join(d2, "machine-id")) ? machineIdFile(d2) : ""), { timeout: 30_000 }).not.toBe("");
    m2 = machineIdFile(d2);
    expect(m2).not.toBe(m1);
    // Machine 2's worker works: its own creates run and bind to it.
    const mine = await t.manager.createSandbox("profile.scratch", t.user);
    await expect.poll(async () => (await t.manager.getSandbox(mine.id)).status, { timeout: 60_000, interval: 100 }).toBe("ready");
    expect((await t.db.sandbox.findUniqueOrThrow({ where: { id: mine.id } })).machineId).toBe(m2);
    for (const id of ids) await t.manager.destroySandbox(id, t.user);
    // Several of its polls later, machine 2's worker has left them alone.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await t.db.operation.count({ where: { sandboxId: { in: ids }, kind: "destroy", state: "queued" } })).toBe(3);
    expect(workspaces(d1)).toHaveLength(3);
    const detail = await t.manager.getSandboxDetail(ids[0]!);
    expect(detail.status).toBe("destroying");
    expect(detail.statusReason).toMatch(new RegExp(`^Waiting for a worker on machine ${m1}, where this local sandbox lives`));

    // Machine 1 comes back: its worker runs the destroys there, and only there.
    const w1b = startWorker(d1);
    await expect
      .poll(() => t.db.sandbox.count({ where: { id: { in: ids }, status: "destroyed" } }), { timeout: 60_000, interval: 100 })
      .toBe(3);
    expect(workspaces(d1)).toEqual([]);
    expect(workspaces(d2)).toEqual([`sbx-${mine.id}`]);
    const owners = await t.db.operation.findMany({ where: { sandboxId: { in: ids }, kind: "destroy" }, select: { leaseOwner: true } });
    for (const o of owners) expect(o.leaseOwner).toContain(`:${w1b.child.pid}:`);
    await Promise.all([w1b.kill("SIGTERM"), w2.kill("SIGTERM")]);
  });
});
