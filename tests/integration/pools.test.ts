// Warm pools against real build VMs on PostgreSQL: members are verified workspaces holding the
// profile's repository, hidden from the team; a claim is one conditional update (never the same member
// twice, even with 50 creates from two processes); quota ignores members; a vanished workspace, a
// profile change and a host going down take members out of the pool; refills keep to their caps and a
// person's create on a full host evicts a member; destroy of a claimed sandbox removes only its workspace;
// a drain destroys the idle members on the host and lists what still runs, and nothing refills there.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";

import { drainHost, hostDrainReport, uncordonHost } from "@/lib/manager/host-lifecycle";
import { requestReconcile } from "@/lib/manager/host-ops";

import { REPO_ROOT } from "../support/app-server";
import { restartVm, startBuildVms, stopBuildVms, stopVm, type BuildVm, type BuildVms } from "../support/build-vms";
import { numberedTree } from "../support/trees";
import { createVmTestManager, hostEntryFor, type VmTestManager } from "../support/vm-harness";

const POOL = { size: 4, refillConcurrency: 2, maxAge: "1h" };

describe("warm pools on real build VMs (PostgreSQL)", () => {
  let vms: BuildVms;
  let vm: BuildVm;
  let t: VmTestManager;
  let repo: string;

  const workspace = (id: string) => path.join(vm.workspaceRoot, `sbx-${id}`);
  const profileFile = () => path.join(t.configDir, "profiles", "pooled.yaml");
  const writePooled = (extra: Record<string, unknown> = {}) =>
    fs.writeFileSync(
      profileFile(),
      stringify({
        apiVersion: "sandboxer.dev/v1",
        id: "profile.pooled",
        title: "pooled",
        ttl: "8h",
        extension: "ext.vm-packer",
        params: { host: "host-wp1", repository: { path: repo } },
        pool: POOL,
        ...extra,
      }),
    );

  async function members(status?: string) {
    return t.db.sandbox.findMany({
      where: { poolKey: { not: null }, ...(status ? { status } : { status: { not: "destroyed" } }) },
      orderBy: { createdAt: "asc" },
    });
  }

  /**
   * Runs a worker until the queue is empty and the pool is full again (refills chain until then). Each
   * worker gets a manager built now, so it reads the profiles as they are on disk (the harness's first
   * manager predates the pooled profile), and starts with the maintenance pass, whose refill request
   * is what brings back a member that failed (after its cool-down) on a busy machine — as the
   * maintenance job does in a running server. A failed member is printed, so a slow run says why.
   */
  async function settle(timeoutMs = 90_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await t.newWorker({ id: "settle", config: {} }).runUntilIdle(Math.max(1_000, deadline - Date.now()));
      const live = await members();
      const failed = live.filter((m) => m.status === "failed");
      for (const m of failed) console.log(`[pool] member ${m.id} failed: ${m.statusReason}`);
      const pooled = live.filter((m) => m.status === "pooled").length;
      if (Date.now() > deadline) return;
      // A refill put back for a moment (another pass held the refill lease) is not claimable yet, so the
      // worker looked idle: it is still work (it may recycle members made for an older profile).
      const refillWaiting = await t.db.operation.count({ where: { kind: "refill", state: "queued" } });
      const settled = pooled + live.filter((m) => m.status === "missing").length === live.length;
      if (refillWaiting === 0 && (pooled >= POOL.size || (failed.length === 0 && settled))) return;
      await new Promise((r) => setTimeout(r, 600)); // past the failure cool-down (500 ms)
    }
  }

  beforeAll(async () => {
    vms = await startBuildVms({ vms: [{ name: "wp1", address: "127.0.0.1" }] });
    vm = vms.vm("wp1");
    repo = numberedTree(40, { dirs: 4, prefix: "sbx-pool-repo-" });
    fs.writeFileSync(path.join(repo, "README"), "the profile's repository\n");
    t = await createVmTestManager("postgresql", vms, {
      hosts: [hostEntryFor(vm, { capacity: 6 })],
      profiles: { plain: { extension: "ext.vm-packer", params: { host: "host-wp1" } } },
      config: { healthIntervalMs: 3_600_000, poolRefillMax: 4, poolRefillPerHost: 2, poolFailureCooldownMs: 500 },
    });
    writePooled();
    // The harness loaded the catalog before the pooled profile existed: a manager that sees it.
    t = { ...t, manager: t.secondManager() };
  }, 90_000);

  afterAll(async () => {
    try {
      await t?.close();
    } finally {
      await stopBuildVms(vms);
      if (repo) fs.rmSync(repo, { recursive: true, force: true });
    }
  });

  it("fills the pool with verified workspaces holding the profile's repository, within the refill caps, hidden from the team", async () => {
    let maxFilling = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const n = await t.db.sandbox.count({ where: { poolKey: { not: null }, status: { in: ["queued", "creating"] } } });
        maxFilling = Math.max(maxFilling, n);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await settle();
    sampling = false;
    await sampler;
    const pooled = await members("pooled");
    expect(pooled).toHaveLength(POOL.size);
    expect(maxFilling).toBeGreaterThan(0);
    expect(maxFilling).toBeLessThanOrEqual(POOL.refillConcurrency);
    for (const m of pooled) {
      expect(m.ownerId).toBe("system-pool");
      expect(fs.readFileSync(path.join(workspace(m.id), "README"), "utf8")).toBe("the profile's repository\n");
      expect(fs.readFileSync(path.join(workspace(m.id), "d3", "f7"), "utf8")).toBe("7\n");
    }
    // Hidden from the overview and the people list; shown on the profile and the host.
    expect((await t.manager.listSandboxes({})).total).toBe(0);
    expect((await t.manager.listPeople()).map((p) => p.id)).not.toContain("system-pool");
    const profile = (await t.manager.listProfiles()).find((p) => p.id === "profile.pooled");
    expect(profile?.pool).toEqual({ size: 4, refillConcurrency: 2, maxAge: "1h", ready: 4, filling: 0 });
    const host = (await t.manager.listHosts()).find((h) => h.id === "host-wp1");
    expect(host).toMatchObject({ sandboxes: 4, pool: { ready: 4, total: 4 } });
  }, 120_000);

  it("a claim is ready in the request with the requester as owner and the profile's TTL; quota ignores members", async () => {
    const strict = t.secondManager({ quotaActive: 1 });
    const before = Date.now();
    const s = await strict.createSandbox("profile.pooled", t.user);
    expect(s.status).toBe("ready");
    expect(s.owner.id).toBe(t.user.kind === "user" ? t.user.userId : "");
    expect(new Date(s.expiresAt!).getTime()).toBeGreaterThanOrEqual(before + 8 * 3600_000 - 1000);
    expect(fs.existsSync(path.join(workspace(s.id), "README"))).toBe(true);
    // The response is made from the row the claim wrote (no read after it): the sandbox as read now.
    expect(s).toEqual(await strict.getSandbox(s.id));
    expect(s.host).toEqual({ id: `host-${vm.name}`, title: `Build VM ${vm.name}`, address: vm.host, port: vm.port });
    const row = await t.db.sandbox.findUniqueOrThrow({ where: { id: s.id } });
    expect(row.poolKey).toBeNull();
    // Now it is theirs and counts: the next create is over the quota of 1 (the three members never counted).
    await expect(strict.createSandbox("profile.pooled", t.user)).rejects.toMatchObject({ code: "QUOTA_EXCEEDED" });
    expect(await members("pooled")).toHaveLength(3);
    // The team sees it now.
    expect((await t.manager.listSandboxes({})).rows.map((r) => r.id)).toEqual([s.id]);
    // Destroy removes exactly its workspace; the members' stay.
    await t.manager.destroySandbox(s.id, t.user);
    await settle();
    expect((await t.manager.getSandbox(s.id)).status).toBe("destroyed");
    expect(fs.existsSync(workspace(s.id))).toBe(false);
    const pooled = await members("pooled");
    expect(pooled).toHaveLength(4); // refilled
    for (const m of pooled) expect(fs.existsSync(path.join(workspace(m.id), "README"))).toBe(true);
  }, 120_000);

  it("a claim's refill starts SANDBOXER_POOL_REFILL_DELAY later, one for a burst of claims", async () => {
    await settle();
    const delayed = t.secondManager({ poolRefillDelayMs: 60_000 });
    const before = Date.now();
    const a = await delayed.createSandbox("profile.pooled", t.user);
    // As a request's session or token gives it: the person's name and email come with the actor.
    const me = await t.db.user.findUniqueOrThrow({ where: { id: a.owner.id } });
    const b = await delayed.createSandbox("profile.pooled", { ...t.user, person: { name: me.name, email: me.email } } as typeof t.user);
    expect([a.status, b.status]).toEqual(["ready", "ready"]);
    expect(b).toEqual(await delayed.getSandbox(b.id));
    expect(b.owner).toEqual({ id: me.id, name: me.name, email: me.email });
    // requestRefill is not awaited by the claim: wait for its insert.
    let refills: { runAfter: Date }[] = [];
    for (let i = 0; i < 100 && refills.length === 0; i++) {
      refills = await t.db.operation.findMany({ where: { kind: "refill", state: "queued" }, select: { runAfter: true } });
      if (refills.length === 0) await new Promise((r) => setTimeout(r, 20));
    }
    expect(refills).toHaveLength(1);
    expect(refills[0]!.runAfter.getTime()).toBeGreaterThanOrEqual(before + 60_000 - 1_000);
    // Not yet: a worker finds nothing to run, and the pool stays two short.
    await t.newWorker({ id: "early", config: {} }).runUntilIdle(5_000);
    expect(await members("pooled")).toHaveLength(POOL.size - 2);
    await t.db.operation.updateMany({ where: { kind: "refill", state: "queued" }, data: { runAfter: new Date() } });
    for (const s of [a, b]) await t.manager.destroySandbox(s.id, t.user);
    await settle();
    expect(await members("pooled")).toHaveLength(POOL.size);
  }, 120_000);

  it("50 concurrent creates from two processes never get the same member; the rest are ordinary creates", async () => {
    expect(await members("pooled")).toHaveLength(4);
    const other = t.other.kind === "user" ? t.other.userId : "";
    const child = spawn(
      process.execPath,
      [
        "--conditions=react-server",
        "--import",
        "tsx",
        "tests/support/claim-process.ts",
        t.configDir,
        t.database.config.url,
        other,
        "profile.pooled",
        "25",
      ],
      { cwd: REPO_ROOT, stdio: ["pipe", "pipe", "inherit"] },
    );
    const lines = readline.createInterface({ input: child.stdout! });
    const it = lines[Symbol.asyncIterator]();
    expect((await it.next()).value).toBe("ready");
    child.stdin!.write("go\n");
    const mine = await Promise.all(Array.from({ length: 25 }, () => t.manager.createSandbox("profile.pooled", t.user)));
    const theirs = JSON.parse(String((await it.next()).value)) as { id: string; status: string; owner: string; error?: string }[];
    child.stdin!.end();
    expect(theirs.filter((r) => r.error)).toEqual([]);
    const all = [...mine.map((s) => ({ id: s.id, status: s.status, owner: s.owner.id })), ...theirs];
    expect(all).toHaveLength(50);
    expect(new Set(all.map((r) => r.id)).size).toBe(50);
    const hits = all.filter((r) => r.status === "ready");
    // Every member was claimed exactly once, by the one whose response says so.
    expect(hits).toHaveLength(4);
    for (const h of hits) {
      const row = await t.db.sandbox.findUniqueOrThrow({ where: { id: h.id } });
      expect(row.ownerId).toBe(h.owner);
      expect(row.status).toBe("ready");
      expect(row.poolKey).toBeNull();
    }
    expect(all.filter((r) => r.status === "queued")).toHaveLength(46);
    // Leave the misses out of the next tests (no workspace exists for them yet).
    for (const r of all) await t.manager.destroySandbox(r.id, t.admin);
    await settle();
    expect(await members("pooled")).toHaveLength(4);
  }, 180_000);

  it("a member whose workspace vanished is not handed out, and is recycled", async () => {
    const [gone] = await members("pooled");
    fs.rmSync(workspace(gone!.id), { recursive: true });
    await requestReconcile(t.manager, "host-wp1", t.admin);
    await settle();
    const row = await t.db.sandbox.findUniqueOrThrow({ where: { id: gone!.id } });
    // Marked missing by reconciliation, then recycled by the refill (its record closed) and replaced.
    expect(["missing", "destroying", "destroyed"]).toContain(row.status);
    const claimed = [];
    for (let i = 0; i < 4; i++) claimed.push(await t.manager.createSandbox("profile.pooled", t.user));
    expect(claimed.map((c) => c.id)).not.toContain(gone!.id);
    for (const c of claimed) {
      expect(c.status).toBe("ready");
      expect(fs.existsSync(path.join(workspace(c.id), "README"))).toBe(true);
    }
    for (const c of claimed) await t.manager.destroySandbox(c.id, t.user);
    await settle();
    expect((await t.db.sandbox.findUniqueOrThrow({ where: { id: gone!.id } })).status).toBe("destroyed");
  }, 180_000);

  it("a person's create on a host full of members evicts one and runs at once", async () => {
    expect(await members("pooled")).toHaveLength(4);
    // Capacity 6: fill two slots with people's sandboxes, so the four members make the host full.
    const a = await t.manager.createSandbox("profile.plain", t.user);
    const b = await t.manager.createSandbox("profile.plain", t.user);
    await settle();
    expect((await t.manager.listHosts())[0]).toMatchObject({ sandboxes: 6, capacity: 6 });
    const c = await t.manager.createSandbox("profile.plain", t.other);
    const w = t.newWorker({ id: "settle", config: {} });
    await w.tick();
    const started = Date.now();
    while ((await t.manager.getSandbox(c.id)).status !== "ready") {
      if (Date.now() - started > 30_000) throw new Error(`still ${(await t.manager.getSandbox(c.id)).status}`);
      await w.tick();
      await new Promise((r) => setTimeout(r, 50));
    }
    const detail = await t.manager.sandboxEvents(c.id);
    expect(detail.map((e) => e.message).join("\n")).toMatch(/evicted/);
    await settle();
    // The pool shrank to what fits: the host never holds more than its capacity of live records.
    expect((await t.manager.listHosts())[0]!.sandboxes).toBeLessThanOrEqual(6);
    for (const s of [a, b, c]) await t.manager.destroySandbox(s.id, t.admin);
    await settle();
    expect(await members("pooled")).toHaveLength(4);
  }, 180_000);

  it("a profile change recycles the pool", async () => {
    const old = await members("pooled");
    writePooled({ params: { host: "host-wp1", repository: { path: repo, excludes: [".git", "d0"] } } });
    await settle(120_000);
    for (const m of old) {
      expect((await t.db.sandbox.findUniqueOrThrow({ where: { id: m.id } })).status).toBe("destroyed");
      expect(fs.existsSync(workspace(m.id))).toBe(false);
    }
    const fresh = await members("pooled");
    expect(fresh).toHaveLength(4);
    for (const m of fresh) {
      expect(old.map((o) => o.id)).not.toContain(m.id);
      expect(fs.existsSync(path.join(workspace(m.id), "d0"))).toBe(false);
    }
    t = { ...t, manager: t.secondManager() };
  }, 180_000);

  it("a host going down takes its members out of the pool; they are recycled when it is back", async () => {
    const before = await members("pooled");
    expect(before).toHaveLength(4);
    await stopVm(vm);
    await requestReconcile(t.manager, "host-wp1", t.admin);
    await settle(60_000);
    expect((await t.manager.listHosts())[0]!.health).toBe("unreachable");
    // Not handed out: a create is an ordinary (queued) create.
    const miss = await t.manager.createSandbox("profile.pooled", t.user);
    expect(miss.status).toBe("queued");
    await t.manager.destroySandbox(miss.id, t.user);
    await settle(60_000);
    for (const m of before) expect((await t.db.sandbox.findUniqueOrThrow({ where: { id: m.id } })).status).toBe("missing");
    await restartVm(vm);
    await requestReconcile(t.manager, "host-wp1", t.admin);
    await settle(120_000);
    for (const m of before) expect((await t.db.sandbox.findUniqueOrThrow({ where: { id: m.id } })).status).toBe("destroyed");
    expect(await members("pooled")).toHaveLength(4);
  }, 240_000);
  it("a drain destroys the idle members on the host, lists what still runs, and nothing refills there until uncordon", async () => {
    const idle = await members("pooled");
    expect(idle).toHaveLength(4);
    const mine = await t.manager.createSandbox("profile.pooled", t.user);
    expect(mine.status).toBe("ready"); // a claim: one of the four
    const stillIdle = idle.filter((m) => m.id !== mine.id);
    expect(stillIdle).toHaveLength(3);
    const report = await drainHost(t.manager, t.admin, "host-wp1", "image update");
    expect(report).toMatchObject({ hostId: "host-wp1", cordoned: true, cordonReason: "image update", poolMembersDestroyed: 3 });
    expect(report.remaining.map((r) => r.id)).toEqual([mine.id]);
    expect(report.summary).toMatch(/^1 sandbox still runs on .*; the last expires at .*; 3 warm-pool members being torn down$/);
    await settle(60_000);
    for (const m of stillIdle) {
      expect((await t.db.sandbox.findUniqueOrThrow({ where: { id: m.id } })).status).toBe("destroyed");
      expect(fs.existsSync(workspace(m.id))).toBe(false);
    }
    // The person's sandbox was left alone, and the cordoned host got no new members.
    expect((await t.manager.getSandbox(mine.id)).status).toBe("ready");
    expect(fs.existsSync(workspace(mine.id))).toBe(true);
    expect(await members()).toEqual([]);
    expect(await hostDrainReport(t.manager, "host-wp1")).toMatchObject({ poolMembersLeft: 0, remaining: [{ id: mine.id }] });
    const audit = await t.db.event.findFirstOrThrow({ where: { type: "audit", action: "host.drain", target: "host-wp1" } });
    expect(audit.message).toContain("1 sandbox still runs");
    await t.manager.destroySandbox(mine.id, t.user);
    await uncordonHost(t.manager, t.admin, "host-wp1");
    await settle(120_000);
    expect(await members("pooled")).toHaveLength(4);
  }, 240_000);
});
