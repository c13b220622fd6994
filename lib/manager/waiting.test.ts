import { describe, expect, it } from "vitest";

import { INITIAL_REASON, stuckReason } from "./waiting";

const now = new Date("2026-01-01T12:00:00Z");
const past = new Date(now.getTime() - 45_000);
const future = new Date(now.getTime() + 10_000);

describe("stuckReason", () => {
  it("a create whose worker died with no live worker: names the worker, how long, and what to do", () => {
    const r = stuckReason(
      { status: "creating", statusReason: "Syncing", lockOperationId: "op_1", lockExpiresAt: past },
      { now, liveWorkers: 0, leaseOwner: "box:42:abcd" },
    );
    expect(r).toEqual({
      since: past.toISOString(),
      reason:
        "The worker running its create (box:42:abcd) stopped responding 45 s ago, and no worker is running to retry it " +
        "(the web server runs one unless SANDBOXER_WORKER=off; or start `npm run worker`); it will be retried when one starts",
    });
  });

  it("with a live worker the expired lease will be reaped: says so", () => {
    const r = stuckReason(
      { status: "destroying", statusReason: null, lockOperationId: "op_1", lockExpiresAt: past },
      { now, liveWorkers: 2 },
    );
    expect(r?.reason).toBe("The worker running its destroy stopped responding 45 s ago; a live worker will retry it within a lease time");
  });

  it("a held lease, a settled sandbox, or a waiting one with live workers: nothing to say", () => {
    expect(
      stuckReason({ status: "creating", statusReason: null, lockOperationId: "op_1", lockExpiresAt: future }, { now, liveWorkers: 0 }),
    ).toBeNull();
    expect(
      stuckReason({ status: "ready", statusReason: null, lockOperationId: "op_1", lockExpiresAt: past }, { now, liveWorkers: 0 }),
    ).toBeNull();
    expect(
      stuckReason({ status: "queued", statusReason: null, lockOperationId: null, lockExpiresAt: null }, { now, liveWorkers: 1 }),
    ).toBeNull();
  });

  it("queued or requeued with no live worker waits for one", () => {
    const r = stuckReason({ status: "creating", statusReason: null, lockOperationId: null, lockExpiresAt: null }, { now, liveWorkers: 0 });
    expect(r?.reason).toMatch(/^Waiting for a worker: none is running/);
    expect(r?.since).toBeNull();
  });

  it("a local sandbox bound to a machine waits for a worker on that machine", () => {
    const r = stuckReason(
      { status: "destroying", statusReason: null, lockOperationId: null, lockExpiresAt: null, machineId: "m-1234" },
      { now, liveWorkers: 3, liveWorkersOnMachine: 0 },
    );
    expect(r?.reason).toMatch(/^Waiting for a worker on machine m-1234, where this local sandbox lives/);
  });

  it("waiting with no worker: a reason a worker stored follows, the initial one does not; a stuck lease replaces it", () => {
    const stored = "No host with room: host-a is cordoned";
    const queued = { status: "queued" as const, lockOperationId: null, lockExpiresAt: null };
    expect(stuckReason({ ...queued, statusReason: stored }, { now, liveWorkers: 0 })?.reason).toMatch(
      /^Waiting for a worker: none is running \(.*\) — No host with room: host-a is cordoned$/,
    );
    expect(stuckReason({ ...queued, statusReason: INITIAL_REASON }, { now, liveWorkers: 0 })?.reason).not.toContain(" — ");
    expect(stuckReason({ ...queued, statusReason: stored }, { now, liveWorkers: 1 })).toBeNull();
    const expired = stuckReason(
      { status: "creating", statusReason: "Syncing", lockOperationId: "op_1", lockExpiresAt: past },
      { now, liveWorkers: 0 },
    );
    expect(expired?.reason).not.toContain("Syncing");
  });
});
