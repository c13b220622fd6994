// A healthy host is not called unreachable on one missed check: a busy build VM can miss one SSH
// handshake's deadline (the CI saw it at load 5), and `unreachable` stops its placements and recycles
// its warm-pool members. The check asks once more after a pause (hostCheckRetryMs) and only then
// gives up; a host already unreachable comes back on its first good check and is not asked twice.
// A check makes a handshake of its own even when a pooled connection to the host is open (that
// connection says nothing about new ones). The VM sits behind the bench's relay (no added round
// trip), told to leave connections unanswered, as a VM too busy to answer within the handshake
// deadline does (a dropped one the SSH pool retries by itself).
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { requestReconcile } from "@/lib/manager/host-ops";

import { startRelay, type Relay } from "../../bench/relay";
import { startBuildVms, stopBuildVms, type BuildVms } from "../support/build-vms";
import { createVmTestManager, hostEntryFor, type VmTestManager } from "../support/vm-harness";

describe("a host check asks twice before calling a healthy host unreachable", () => {
  let vms: BuildVms;
  let t: VmTestManager;
  let relay: Relay;

  beforeAll(async () => {
    vms = await startBuildVms({ vms: [{ name: "hr1", address: "127.0.0.1" }] });
    const vm = vms.vm("hr1");
    relay = await startRelay({ upstreamHost: vm.host, upstreamPort: vm.port, rttMs: 0 });
    t = await createVmTestManager("sqlite", vms, {
      hosts: [hostEntryFor(vm, { port: relay.port })],
      config: { healthIntervalMs: 3_600_000, hostCheckRetryMs: 1_000 },
      readyTimeoutMs: 1_000,
    });
  }, 60_000);

  afterAll(async () => {
    try {
      await t?.close();
      await relay?.close();
    } finally {
      await stopBuildVms(vms);
    }
  });

  /**
   * One check, the first `stall` new connections unanswered. Unless `keepPooled`, the pool forgets its
   * connections first (an idle one would otherwise still be open from the last check).
   */
  async function check(stall: number, opts: { keepPooled?: boolean } = {}) {
    if (!opts.keepPooled) t.pool.forgetConnections({ host: "127.0.0.1", port: relay.port });
    relay.stallNext(stall);
    const before = relay.connections();
    await requestReconcile(t.manager, "host-hr1", t.admin);
    await t.newWorker().runUntilIdle(30_000);
    const host = await t.db.buildHost.findUniqueOrThrow({ where: { id: "host-hr1" } });
    return { health: host.health, detail: host.healthDetail, connections: relay.connections() - before };
  }

  it("one missed handshake: still healthy, checked again on a second connection", async () => {
    expect(await check(0)).toMatchObject({ health: "healthy", connections: 1 });
    expect(await check(1)).toMatchObject({ health: "healthy", detail: null, connections: 2 });
  });

  it("two missed: unreachable, saying it was checked twice; not asked twice while unreachable; back on a good check", async () => {
    const down = await check(2);
    expect(down).toMatchObject({ health: "unreachable", connections: 2 });
    expect(down.detail).toMatch(/checked twice, 1s apart/);
    // Already unreachable: one attempt, and it stays so.
    expect(await check(1)).toMatchObject({ health: "unreachable", connections: 1 });
    expect(await check(0)).toMatchObject({ health: "healthy", detail: null, connections: 1 });
  });

  it("a host that stops answering new connections is unreachable even while a pooled connection to it lives", async () => {
    expect(await check(0)).toMatchObject({ health: "healthy", connections: 1 });
    // The last check's connection is still open and idle (the pool keeps it 30 s): a check asks for a
    // handshake of its own anyway, and reuses the open connection for its commands.
    expect(await check(0, { keepPooled: true })).toMatchObject({ health: "healthy", connections: 1 });
    // As a VM whose sshd listener died while its sessions live on: new connections go unanswered.
    const down = await check(2, { keepPooled: true });
    expect(down).toMatchObject({ health: "unreachable", connections: 2 });
    expect(down.detail).toMatch(/checked twice/);
    expect(await check(0)).toMatchObject({ health: "healthy", detail: null });
  });
});
