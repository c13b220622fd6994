// The manager's lifecycle on both databases, with ext.fake scripting the extension's behaviour.
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";

import { fakeWorld } from "@/lib/extensions/fake/extension";
import { claimOperation, requeueExpired } from "@/lib/db/operations";
import { reapExpiredOperations, reapIntervalMs, retryBackoffMs } from "@/lib/manager/reaper";
import { Worker } from "@/lib/manager/worker";

import { PROVIDERS } from "../support/databases";
import { createTestManager, FAST_CONFIG, fakeProfile, waitForStatus, type TestManager } from "../support/manager-harness";
import { overwriteSandboxRow } from "../support/sandbox-rows";
import * as sandboxRows from "@/lib/db/sandboxes";

/** What the fake world holds for one sandbox (its resource is `fake-<id>`; anything else naming it is a leak). */
const resourcesOf = (id: string): string[] => [...fakeWorld.resources].filter((r) => r.includes(id));

describe.each(PROVIDERS)("manager on %s", (provider) => {
  let t: TestManager;

  beforeAll(async () => {
    t = await createTestManager(provider, {
      profiles: {
        quick: fakeProfile({ steps: 2 }, { inputs: { ref: { title: "Ref", param: "ref", pattern: "[a-z0-9-]+" } } }),
        failing: fakeProfile({ steps: 3, failAtStep: 2, failMessage: "the build VM said no" }),
        "fail-early": fakeProfile({ failBeforeHandle: true, failMessage: "nothing reachable" }),
        slow: fakeProfile({ steps: 50, stepMs: 100 }),
        "record-once": fakeProfile({ steps: 3, recordSteps: false }),
        "slow-destroy": fakeProfile({ steps: 1, destroyMs: 1_000 }),
        flaky: fakeProfile({ steps: 1, destroyFailures: 1 }),
      },
    });
  });
  afterAll(async () => t?.close());
  beforeEach(() => fakeWorld.reset());

  it("create → ready, with a handle, log lines and a timeline", async () => {
    const worker = t.newWorker();
    const created = await t.manager.createSandbox("profile.quick", t.user, { ref: "feature-1" });
    expect(created.status).toBe("queued");
    await worker.runUntilIdle();
    const detail = await t.manager.getSandboxDetail(created.id);
    expect(detail.status).toBe("ready");
    expect(detail.handle?.workspacePath).toBe(`fake-${created.id}`);
    expect(detail.input).toEqual({ ref: "feature-1" });
    expect(detail.timeline.map((e) => e.status)).toEqual(["queued", "creating", "ready"]);
    const log = await t.manager.sandboxEvents(created.id);
    expect(log.filter((e) => e.type === "log").map((e) => e.message)).toEqual(expect.arrayContaining(["step 1/2", "step 2/2"]));
    expect(fakeWorld.resources.has(`fake-${created.id}`)).toBe(true);
    const params = (await t.db.sandbox.findUniqueOrThrow({ where: { id: created.id } })).params as { ref: string };
    expect(params.ref).toBe("feature-1");
  });

  it("a create's response, built from the row it inserted, is the sandbox as a read returns it (owner, reason, handle)", async () => {
    const row = await t.db.user.findUniqueOrThrow({ where: { id: t.user.kind === "user" ? t.user.userId : "" } });
    // Through a session or token the actor carries the person; from elsewhere the owner is read.
    for (const actor of [t.user, { ...t.user, person: { name: row.name, email: row.email } }]) {
      const created = await t.manager.createSandbox("profile.quick", actor, { ref: "view-check" });
      const read = await t.manager.getSandbox(created.id);
      expect(created).toEqual(read);
      expect(created.owner).toEqual({ id: row.id, name: row.name, email: row.email });
      await t.manager.destroySandbox(created.id, t.user);
    }
    await t.newWorker().runUntilIdle();
  });

  it("the handle a create returns is stored when it differs from the one recorded before its work, and only then", async () => {
    const worker = t.newWorker();
    const writes = vi.spyOn(sandboxRows, "storeHandle");
    try {
      const changed = await t.manager.createSandbox("profile.record-once", t.user);
      await worker.runUntilIdle();
      // Recorded with stepsDone 0 before the first step; returned with 3.
      expect((await t.db.sandbox.findUniqueOrThrow({ where: { id: changed.id } })).handle).toMatchObject({ stepsDone: 3 });
      expect(writes.mock.calls.filter((c) => c[1] === changed.id)).toHaveLength(2);
      const same = await t.manager.createSandbox("profile.quick", t.user, { ref: "same-handle" });
      await worker.runUntilIdle();
      // Recorded before the work and after each of its 2 steps; the returned handle equals the last: no fourth write.
      expect((await t.db.sandbox.findUniqueOrThrow({ where: { id: same.id } })).handle).toMatchObject({ stepsDone: 2 });
      expect(writes.mock.calls.filter((c) => c[1] === same.id)).toHaveLength(3);
    } finally {
      writes.mockRestore();
    }
  });

  it("create failing → failed with the message, and what was created is cleaned up", async () => {
    const worker = t.newWorker();
    const s = await t.manager.createSandbox("profile.failing", t.user);
    await worker.runUntilIdle();
    const after = await t.manager.getSandbox(s.id);
    expect(after.status).toBe("failed");
    expect(after.statusReason).toContain("the build VM said no");
    expect(resourcesOf(s.id)).toEqual([]);
    expect(fakeWorld.count("destroy", s.id)).toBe(1);
    const op = await t.db.operation.findFirstOrThrow({ where: { sandboxId: s.id, kind: "create" } });
    expect(op.state).toBe("failed");
    expect(op.errorCode).toBe("FAKE_FAILURE");
  });

  it("a create failing before any handle needs no cleanup", async () => {
    const worker = t.newWorker();
    const s = await t.manager.createSandbox("profile.fail-early", t.user);
    await worker.runUntilIdle();
    expect((await t.manager.getSandbox(s.id)).statusReason).toContain("nothing reachable");
    expect(fakeWorld.count("destroy", s.id)).toBe(0);
  });

  it("destroy during create → destroyed, nothing left", async () => {
    const worker = t.newWorker();
    worker.start();
    const s = await t.manager.createSandbox("profile.slow", t.user);
    await waitForStatus(t.manager, s.id, ["creating"]);
    // Let it get a few steps in, so there is something to clean up.
    await vi.waitFor(
      async () => {
        const steps = (await t.manager.sandboxEvents(s.id)).filter((e) => e.message.startsWith("step "));
        expect(steps.length).toBeGreaterThanOrEqual(2);
      },
      { timeout: 10_000, interval: 25 },
    );
    expect(fakeWorld.resources.has(`fake-${s.id}`)).toBe(true);
    const destroying = await t.manager.destroySandbox(s.id, t.user);
    expect(destroying.status).toBe("destroying");
    await waitForStatus(t.manager, s.id, ["destroyed"]);
    await worker.stop();
    expect(resourcesOf(s.id)).toEqual([]);
    const ops = await t.db.operation.findMany({ where: { sandboxId: s.id }, orderBy: { createdAt: "asc" } });
    expect(ops.map((o) => [o.kind, o.state])).toEqual([
      ["create", "cancelled"],
      ["destroy", "succeeded"],
    ]);
    // The create stopped early: far fewer than its 50 steps ran.
    const steps = (await t.manager.sandboxEvents(s.id)).filter((e) => e.message.startsWith("step "));
    expect(steps.length).toBeLessThan(20);
  });

  it("a destroy from another process: its wake-up stops the create at once, and the cancel poll backs off while wake-ups arrive", async () => {
    // The worker runs on a manager of its own (another process's, as far as cancelling goes): the
    // destroy below cannot abort it directly, only through the operation's flag.
    const elsewhere = t.secondManager({ cancelPollMs: 50, cancelPollWithWakeMs: 60_000 });
    const worker = new Worker(elsewhere, {});
    worker.start();
    const stepsOf = async (id: string) => (await t.manager.sandboxEvents(id)).filter((e) => e.message.startsWith("step ")).length;
    const startSlow = async () => {
      const s = await t.manager.createSandbox("profile.slow", t.user);
      await waitForStatus(t.manager, s.id, ["creating"]);
      await vi.waitFor(async () => expect(await stepsOf(s.id)).toBeGreaterThanOrEqual(2), { timeout: 10_000, interval: 25 });
      const op = await t.db.operation.findFirstOrThrow({ where: { sandboxId: s.id, kind: "create" } });
      return { id: s.id, opId: op.id };
    };
    try {
      // Wake-ups up (PostgreSQL's listening connection): the flag is looked at only every 60 s.
      elsewhere.notifier.setCrossProcessWake(true);
      const a = await startSlow();
      await t.manager.destroySandbox(a.id, t.user);
      const stepsAtDestroy = await stepsOf(a.id);
      await new Promise((r) => setTimeout(r, 600)); // twelve ticks of the 50-ms poll
      expect((await t.db.operation.findUniqueOrThrow({ where: { id: a.opId } })).state).toBe("running");
      expect(await stepsOf(a.id)).toBeGreaterThan(stepsAtDestroy);
      // The wake-up the listener passes on (kind c): stopped at once.
      elsewhere.notifier.cancelRequested(a.opId);
      await waitForStatus(t.manager, a.id, ["destroyed"], 5_000);
      expect((await t.db.operation.findUniqueOrThrow({ where: { id: a.opId } })).error).toBe("Cancelled by destroy");

      // Wake-ups down: the poll finds the flag on its own, within a few ticks.
      elsewhere.notifier.setCrossProcessWake(false);
      const b = await startSlow();
      await t.manager.destroySandbox(b.id, t.user);
      await waitForStatus(t.manager, b.id, ["destroyed"], 5_000);
      const op = await t.db.operation.findUniqueOrThrow({ where: { id: b.opId } });
      expect(op.error).toBe("Cancelled by destroy");
      expect(await stepsOf(b.id)).toBeLessThan(20);
    } finally {
      await worker.stop(1_000);
    }
  });

  it("destroy of a queued sandbox never runs its create", async () => {
    const s = await t.manager.createSandbox("profile.quick", t.user);
    await t.manager.destroySandbox(s.id, t.user);
    await t.newWorker().runUntilIdle();
    expect((await t.manager.getSandbox(s.id)).status).toBe("destroyed");
    expect(fakeWorld.count("create", s.id)).toBe(0);
    expect(fakeWorld.count("destroy", s.id)).toBe(0);
  });

  it("destroy twice → one teardown", async () => {
    const worker = t.newWorker();
    const s = await t.manager.createSandbox("profile.quick", t.user);
    await worker.runUntilIdle();
    const [a, b] = await Promise.all([t.manager.destroySandbox(s.id, t.user), t.manager.destroySandbox(s.id, t.user)]);
    expect([a.status, b.status]).toEqual(["destroying", "destroying"]);
    await worker.runUntilIdle();
    const again = await t.manager.destroySandbox(s.id, t.user);
    expect(again.status).toBe("destroyed");
    await worker.runUntilIdle();
    expect(fakeWorld.count("destroy", s.id)).toBe(1);
    expect(await t.db.operation.count({ where: { sandboxId: s.id, kind: "destroy" } })).toBe(1);
  });

  it("a failed destroy → destroy_failed with the reason; retry succeeds", async () => {
    const worker = t.newWorker();
    const s = await t.manager.createSandbox("profile.flaky", t.user);
    await worker.runUntilIdle();
    await t.manager.destroySandbox(s.id, t.user);
    await worker.runUntilIdle();
    const failed = await t.manager.getSandbox(s.id);
    expect(failed.status).toBe("destroy_failed");
    expect(failed.statusReason).toContain("scripted destroy failure");
    await t.manager.destroySandbox(s.id, t.user);
    await worker.runUntilIdle();
    expect((await t.manager.getSandbox(s.id)).status).toBe("destroyed");
    expect(resourcesOf(s.id)).toEqual([]);
  });

  it("a member cannot destroy another member's sandbox; an admin can", async () => {
    const worker = t.newWorker();
    const s = await t.manager.createSandbox("profile.quick", t.user);
    await worker.runUntilIdle();
    await expect(t.manager.destroySandbox(s.id, t.other)).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect((await t.manager.getSandbox(s.id)).status).toBe("ready");
    const denied = await t.db.event.findFirst({ where: { type: "audit", action: "sandbox.destroy", target: s.id, result: "denied" } });
    expect(denied?.actorId).toBe((t.other as { userId: string }).userId);
    await t.manager.destroySandbox(s.id, t.admin);
    await worker.runUntilIdle();
    expect((await t.manager.getSandbox(s.id)).status).toBe("destroyed");
  });

  it("bad input: unknown profile, bad inputs and bad ids are refused and nothing is written", async () => {
    const before = await t.db.sandbox.count();
    await expect(t.manager.createSandbox("profile.nope", t.user)).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(t.manager.createSandbox("profile.quick", t.user, { ref: "Bad Ref!" })).rejects.toMatchObject({
      code: "VALIDATION_FAILED",
      fieldErrors: { ref: [expect.stringContaining("Ref")] },
    });
    await expect(t.manager.createSandbox("profile.quick", t.user, { unknown: "x" })).rejects.toMatchObject({
      code: "VALIDATION_FAILED",
      fieldErrors: { unknown: [expect.any(String)] },
    });
    await expect(t.manager.destroySandbox("../etc", t.user)).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(await t.db.sandbox.count()).toBe(before);
  });

  it("a worker killed mid-operation: its lease expires and another worker finishes cleanly", async () => {
    // Worker A claims the create and then "dies": it never heartbeats again (a huge interval) and its
    // process is gone (we stop it without letting it write anything).
    const s = await t.manager.createSandbox("profile.quick", t.user);
    const [op] = await t.db.operation.findMany({ where: { sandboxId: s.id, kind: "create" } });
    const claimed = await claimOperation(t.db, op!, "dead-worker", new Date(), 200);
    expect(claimed?.attempt).toBe(1);
    // It got as far as recording a handle and creating the resource before dying.
    await overwriteSandboxRow(t.db, s.id, {
      status: "creating",
      handle: { extension: "ext.fake", resource: `fake-${s.id}`, stepsDone: 3 },
    });
    fakeWorld.resources.add(`fake-${s.id}`);
    await new Promise((r) => setTimeout(r, 300));
    const b = t.newWorker({ id: "worker-b", config: { ...{ leaseMs: 3_000 } } });
    b.start();
    await waitForStatus(t.manager, s.id, ["ready", "failed"], 30_000);
    await b.stop();
    const after = await t.db.operation.findUniqueOrThrow({ where: { id: op!.id } });
    expect(after.attempt).toBe(2);
    expect(after.leaseOwner).toBe("worker-b");
    expect(after.state).toBe("succeeded");
    // The retry cleaned up the dead attempt's resource before creating again: one resource, B's.
    expect(fakeWorld.count("destroy", s.id)).toBe(1);
    expect(fakeWorld.resources.has(`fake-${s.id}`)).toBe(true);
    const log = (await t.manager.sandboxEvents(s.id)).map((e) => e.message);
    expect(log.some((l) => l.includes("stopped responding"))).toBe(true);
  });

  it("a running worker looks for expired leases once per sixth of a lease, not at every poll", async () => {
    // Poll 50 ms, lease 3 s: the reaper's lease is renewed (and expired leases looked for) every 500 ms.
    expect(reapIntervalMs({ pollMs: 50, leaseMs: 3_000 })).toBe(500);
    expect(reapIntervalMs({ pollMs: 1_000, leaseMs: 30_000 })).toBe(5_000);
    expect(reapIntervalMs({ pollMs: 1_000, leaseMs: 3_000 })).toBe(1_000);
    await t.db.lease.deleteMany({ where: { name: "reaper" } });
    const w = t.newWorker({ id: "reap-cadence", config: { leaseMs: 3_000, pollMs: 50 } });
    w.start();
    const renewals = new Set<number>();
    const until = Date.now() + 2_000;
    while (Date.now() < until) {
      const lease = await t.db.lease.findUnique({ where: { name: "reaper" } });
      if (lease?.owner === "reap-cadence") renewals.add(lease.expiresAt.getTime());
      await new Promise((r) => setTimeout(r, 20));
    }
    await w.stop();
    // 2 s at one renewal per 500 ms: 4 or 5 (at every 50 ms poll it was about 40).
    expect(renewals.size).toBeGreaterThanOrEqual(2);
    expect(renewals.size).toBeLessThanOrEqual(6);
  });

  it("an idle worker that every queue wakes polls only as the fallback, and claims a queued operation when its time comes", async () => {
    // The reaper and the maintenance far off: only a wake-up, the fallback poll (2.5 s) or a queued
    // operation's time ends the worker's sleep. What it claims is of a kind nobody runs: it fails at once.
    const m = t.secondManager({ pollMs: 50, pollWithWakeMs: 2_500, leaseMs: 600_000, maintenanceMs: 600_000 });
    const plant = async (runAfter: Date) => {
      const id = `op_probe_${Math.random().toString(36).slice(2, 10)}`;
      await t.db.operation.create({ data: { id, kind: "probe", state: "queued", maxAttempts: 1, runAfter } });
      return id;
    };
    const stateOf = async (id: string) => (await t.db.operation.findUniqueOrThrow({ where: { id } })).state;
    /** How long until the operation is no longer queued (ms), or null when it still is after `withinMs`. */
    const claimedWithin = async (id: string, withinMs: number): Promise<number | null> => {
      const start = Date.now();
      while (Date.now() - start < withinMs) {
        if ((await stateOf(id)) !== "queued") return Date.now() - start;
        await new Promise((r) => setTimeout(r, 20));
      }
      return null;
    };
    // Written by another process with no wake-up: a worker that other processes' changes wake
    // (PostgreSQL's notifications, the embedded database's watch) leaves it to its fallback poll.
    m.notifier.setCrossProcessWake(true);
    const woken = new Worker(m, { id: "woken" });
    try {
      woken.start();
      // Its first tick (reaper, maintenance, an empty queue) is over once it means to sleep long.
      await vi.waitFor(() => expect(woken.nextWaitMs(Date.now())).toBeGreaterThan(2_000), { timeout: 10_000, interval: 10 });
      const unannounced = await plant(new Date());
      expect(await claimedWithin(unannounced, 1_200)).toBeNull();
      // Still there at the fallback poll; claimed (running), then failed as a kind nobody runs.
      expect(await claimedWithin(unannounced, 3_000)).not.toBeNull();
      await vi.waitFor(async () => expect(await stateOf(unannounced)).toBe("failed"), { timeout: 5_000, interval: 20 });

      // Announced but not claimable yet (a retry's backoff): claimed when its time comes, not at the poll.
      const later = await plant(new Date(Date.now() + 700));
      m.notifier.operationQueued();
      const waited = await claimedWithin(later, 2_200);
      expect(waited).not.toBeNull();
      expect(waited!).toBeGreaterThanOrEqual(500);
    } finally {
      await woken.stop();
    }

    // An operation that waits for its sandbox's lock (held by a running one elsewhere, whose end wakes
    // no one here): the short poll, until the lock is free.
    const s = await t.manager.createSandbox("profile.quick", t.user);
    await t.db.operation.updateMany({ where: { sandboxId: s.id }, data: { state: "succeeded" } });
    await overwriteSandboxRow(t.db, s.id, { lockOperationId: "op_elsewhere", lockExpiresAt: new Date(Date.now() + 60_000) });
    const waiting = await plant(new Date());
    await t.db.operation.update({ where: { id: waiting }, data: { sandboxId: s.id } });
    const ticking = new Worker(m, { id: "ticking" });
    expect(await ticking.tick()).toBe(0);
    expect(ticking.nextWaitMs(Date.now())).toBe(50);
    await overwriteSandboxRow(t.db, s.id, { lockOperationId: null, lockExpiresAt: null });
    expect(await ticking.tick()).toBe(1);
    await ticking.stop();
    expect(await claimedWithin(waiting, 2_000)).not.toBeNull();

    // A worker that nothing wakes for other processes' queues (the wake-ups are down) keeps the short poll.
    m.notifier.setCrossProcessWake(false);
    const polling = new Worker(m, { id: "polling" });
    try {
      polling.start();
      await new Promise((r) => setTimeout(r, 300));
      expect(polling.nextWaitMs(Date.now())).toBe(50);
      const unannounced = await plant(new Date());
      expect(await claimedWithin(unannounced, 1_200)).not.toBeNull();
    } finally {
      await polling.stop();
    }
  });

  it("a worker that keeps dying: retried with backoff up to the limit, then failed with the reason, and cleaned up", async () => {
    const s = await t.manager.createSandbox("profile.quick", t.user);
    const [op] = await t.db.operation.findMany({ where: { sandboxId: s.id, kind: "create" } });
    expect(op!.maxAttempts).toBe(3);
    // Backoff doubles with the attempt from FAST_CONFIG's base (50 ms, 100 ms), and none after the last.
    const base = FAST_CONFIG.retryBackoffMs!;
    const expectedDelays = [base, 2 * base, 0];
    expect([1, 2].map((a) => retryBackoffMs(a, base))).toEqual(expectedDelays.slice(0, 2));
    // Three workers in a row claim it, record a handle and die (their leases lapse).
    for (let attempt = 1; attempt <= 3; attempt++) {
      const claimed = await claimOperation(t.db, { id: op!.id, sandboxId: s.id }, `doomed-${attempt}`, new Date(), 100);
      expect(claimed?.attempt).toBe(attempt);
      await overwriteSandboxRow(t.db, s.id, {
        status: "creating",
        handle: { extension: "ext.fake", resource: `fake-${s.id}`, stepsDone: 1 },
      });
      fakeWorld.resources.add(`fake-${s.id}`);
      // The reaper runs at a fixed moment just past the lease: no waiting, and the delay is exact.
      const now = new Date(claimed!.leaseExpiresAt!.getTime() + 1);
      expect(await reapExpiredOperations(t.manager, now)).toBe(1);
      const requeued = await t.db.operation.findUniqueOrThrow({ where: { id: op!.id } });
      expect(requeued.state).toBe("queued");
      expect(requeued.leaseOwner).toBeNull();
      expect(requeued.runAfter.getTime() - now.getTime()).toBe(expectedDelays[attempt - 1]);
      // The backoff has passed.
      await t.db.operation.update({ where: { id: op!.id }, data: { runAfter: new Date() } });
    }
    await t.newWorker({ id: "survivor" }).runUntilIdle();
    const failed = await t.manager.getSandbox(s.id);
    expect(failed.status).toBe("failed");
    expect(failed.statusReason).toContain("Gave up after 3 attempts");
    expect(fakeWorld.resources.has(`fake-${s.id}`)).toBe(false);
    expect((await t.db.operation.findUniqueOrThrow({ where: { id: op!.id } })).errorCode).toBe("ATTEMPTS_EXHAUSTED");
  });

  it("runUntilIdle waits for an operation whose lease it lost until the reaper's retry has run", async () => {
    // Seen in CI: 50 destroys at once on a busy machine, one lease lapsed, the reaper put that destroy
    // back with a backoff, and runUntilIdle returned while it was not yet claimable (still destroying).
    const s = await t.manager.createSandbox("profile.slow-destroy", t.user);
    const w = t.newWorker({ id: "loses-a-lease", config: { heartbeatMs: 50 } });
    await w.runUntilIdle();
    await t.manager.destroySandbox(s.id, t.user);
    const idle = w.runUntilIdle(20_000);
    const op = await vi.waitFor(
      async () => {
        const row = await t.db.operation.findFirst({ where: { sandboxId: s.id, kind: "destroy", state: "running" } });
        if (!row) throw new Error("destroy not running yet");
        return row;
      },
      { timeout: 10_000, interval: 10 },
    );
    // What the reaper does to a lapsed lease, with a backoff well past the destroy's 1 s. The reaper's
    // clock is a minute ahead: the worker renews its lease (3 s) every 50 ms, and a renewal between
    // reading the row and requeueing it moved the expiry past a clock of "the lease read + 1 ms" (CI).
    const backoffMs = 2_000;
    const reaperNow = new Date(Date.now() + 60_000);
    expect(await requeueExpired(t.db, op, reaperNow, new Date(Date.now() + backoffMs))).toBe(true);
    await idle;
    const after = await t.db.operation.findUniqueOrThrow({ where: { id: op.id } });
    expect(after.state).toBe("succeeded");
    expect(after.attempt).toBe(2);
    expect((await t.manager.getSandbox(s.id)).status).toBe("destroyed");
    expect(resourcesOf(s.id)).toEqual([]);
  });

  it("a create that hangs is stopped at its timeout and cleaned up", async () => {
    const th = await createTestManager(provider, {
      profiles: { stuck: fakeProfile({ steps: 2, stepMs: 60_000 }) },
      config: { createTimeoutMs: 300 },
    });
    try {
      const w = th.newWorker();
      const polite = await th.manager.createSandbox("profile.stuck", th.user);
      const started = Date.now();
      await w.runUntilIdle(30_000);
      const failed = await th.manager.getSandbox(polite.id);
      expect(failed.status).toBe("failed");
      expect(failed.statusReason).toContain("did not finish within");
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(fakeWorld.resources.has(`fake-${polite.id}`)).toBe(false);
    } finally {
      await th.close();
    }
  });

  it("a step stopped at its timeout says so, also when the extension answers the stop with an error of its own", async () => {
    const th = await createTestManager(provider, {
      profiles: { echo: fakeProfile({ steps: 2, stepMs: 60_000, abortsWithOwnError: true }) },
      config: { createTimeoutMs: 300 },
    });
    try {
      const s = await th.manager.createSandbox("profile.echo", th.user);
      await th.newWorker().runUntilIdle(30_000);
      const failed = await th.manager.getSandbox(s.id);
      expect(failed.status).toBe("failed");
      expect(failed.statusReason).toContain("The create step did not finish within 0 s and was stopped");
      expect(failed.statusReason).not.toContain("was cancelled");
    } finally {
      await th.close();
    }
  });

  it("two workers racing for one operation → exactly one runs it", async () => {
    const s = await t.manager.createSandbox("profile.quick", t.user);
    const m2 = t.secondManager();
    const w1 = t.newWorker({ id: "race-1" });
    const { Worker } = await import("@/lib/manager/worker");
    const w2 = new Worker(m2, { id: "race-2" });
    await Promise.all([w1.runUntilIdle(), w2.runUntilIdle()]);
    await Promise.all([w1.runUntilIdle(), w2.runUntilIdle()]);
    expect((await t.manager.getSandbox(s.id)).status).toBe("ready");
    expect(fakeWorld.count("create", s.id)).toBe(1);
    const op = await t.db.operation.findFirstOrThrow({ where: { sandboxId: s.id } });
    expect(op.attempt).toBe(1);
  });

  it("many creates across two workers on separate connections: each runs exactly once", async () => {
    const m2 = t.secondManager();
    const ids = [];
    for (let i = 0; i < 12; i++) ids.push((await t.manager.createSandbox("profile.quick", t.user)).id);
    const { Worker } = await import("@/lib/manager/worker");
    const w1 = t.newWorker({ id: "many-1", concurrency: 4 });
    const w2 = new Worker(m2, { id: "many-2", concurrency: 4 });
    await Promise.all([w1.runUntilIdle(), w2.runUntilIdle()]);
    for (const id of ids) {
      expect((await t.manager.getSandbox(id)).status).toBe("ready");
      expect(fakeWorld.count("create", id)).toBe(1);
    }
  });

  it("the quota counts queued, creating and ready sandboxes, never failed or destroyed ones", async () => {
    const tq = await createTestManager(provider, {
      profiles: { quick: fakeProfile({ steps: 1 }), failing: fakeProfile({ failBeforeHandle: true }) },
      config: { quotaActive: 2 },
    });
    try {
      const w = tq.newWorker();
      const failed = await tq.manager.createSandbox("profile.failing", tq.user);
      await w.runUntilIdle();
      expect((await tq.manager.getSandbox(failed.id)).status).toBe("failed");
      const a = await tq.manager.createSandbox("profile.quick", tq.user);
      const b = await tq.manager.createSandbox("profile.quick", tq.user);
      const err = await tq.manager.createSandbox("profile.quick", tq.user).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "QUOTA_EXCEEDED" });
      expect((err as Error).message).toContain(a.id);
      expect((err as Error).message).toContain(b.id);
      expect((err as Error).message).not.toContain(failed.id);
      await tq.manager.destroySandbox(a.id, tq.user);
      await w.runUntilIdle();
      await expect(tq.manager.createSandbox("profile.quick", tq.user)).resolves.toMatchObject({ status: "queued" });
    } finally {
      await tq.close();
    }
  });
});
