// Bounded resources in one worker process: many operations in flight add no listener per operation to
// long-lived signals (the MaxListenersExceededWarning every worker printed under load), and a worker
// keeps one listener, not one per operation run, once its work is done.
import { getEventListeners } from "node:events";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createTestManager, fakeProfile, waitForStatus, type TestManager } from "../support/manager-harness";

describe("bounded listeners under load", () => {
  let t: TestManager;

  beforeAll(async () => {
    t = await createTestManager("sqlite", { profiles: { slow: fakeProfile({ stepMs: 400 }) } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it("16 creates at once on one worker: no MaxListenersExceededWarning, no abort listener left", async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    try {
      const worker = t.newWorker({ concurrency: 16 });
      const ids: string[] = [];
      for (let i = 0; i < 16; i++) ids.push((await t.manager.createSandbox("profile.slow", t.admin)).id);
      worker.start();
      // All 16 are running at once (each step takes 400 ms): the moment the leak showed.
      await expect.poll(() => t.db.operation.count({ where: { state: "running" } }), { timeout: 20_000, interval: 20 }).toBe(16);
      expect(getEventListeners(worker.shutdownSignal, "abort").length).toBeLessThanOrEqual(1);
      for (const id of ids) await waitForStatus(t.manager, id, ["ready"], 30_000);
      await worker.stop();
      // The one fan-out listener, never one per operation run.
      expect(getEventListeners(worker.shutdownSignal, "abort").length).toBeLessThanOrEqual(1);
      // Warnings are emitted on the next tick.
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w.name === "MaxListenersExceededWarning").map((w) => w.message)).toEqual([]);
    } finally {
      process.off("warning", onWarning);
    }
  });
});
