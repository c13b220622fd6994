// A healthy host is not called unreachable on one missed check: a busy build VM can miss one SSH
// handshake's deadline (the CI saw it at load 5), and `unreachable` stops its placements and recycles
// its warm-pool members. The check asks once more after a pause (hostCheckRetryMs) and only then
// gives up; a host already unreachable comes back on its first good check and is not asked twice.
// The VM sits behind a relay that holds the connections it is told to stall silent, as a VM too busy
// to answer within the handshake deadline does (a dropped connection the SSH pool retries by itself).
import net from "node:net";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { requestReconcile } from "@/lib/manager/host-ops";

import { startBuildVms, stopBuildVms, type BuildVms } from "../support/build-vms";
import { createVmTestManager, hostEntryFor, type VmTestManager } from "../support/vm-harness";

/** A TCP relay to `target` that leaves the next `stall` connections unanswered and counts every one. */
async function startStallingRelay(target: { host: string; port: number }) {
  const state = { stall: 0, connections: 0, sockets: new Set<net.Socket>() };
  const track = (s: net.Socket) => {
    state.sockets.add(s);
    s.on("close", () => state.sockets.delete(s));
    s.on("error", () => s.destroy());
  };
  const server = net.createServer((client) => {
    state.connections++;
    track(client);
    if (state.stall > 0) {
      state.stall--;
      return; // never forwarded: the client's handshake deadline passes
    }
    const upstream = net.connect(target.port, target.host);
    track(upstream);
    client.pipe(upstream).pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    state,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of state.sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe("a host check asks twice before calling a healthy host unreachable", () => {
  let vms: BuildVms;
  let t: VmTestManager;
  let relay: Awaited<ReturnType<typeof startStallingRelay>>;

  beforeAll(async () => {
    vms = await startBuildVms({ vms: [{ name: "hr1", address: "127.0.0.1" }] });
    const vm = vms.vm("hr1");
    relay = await startStallingRelay({ host: vm.host, port: vm.port });
    t = await createVmTestManager("sqlite", vms, {
      hosts: [hostEntryFor(vm, { port: relay.port })],
      config: { healthIntervalMs: 3_600_000, hostCheckRetryMs: 300 },
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

  /** One check from a fresh connection (the pool would reuse the last check's), the first `stall` connections unanswered. */
  async function check(stall: number) {
    t.pool.forgetConnections({ host: "127.0.0.1", port: relay.port });
    relay.state.stall = stall;
    const before = relay.state.connections;
    await requestReconcile(t.manager, "host-hr1", t.admin);
    await t.newWorker().runUntilIdle(30_000);
    const host = await t.db.buildHost.findUniqueOrThrow({ where: { id: "host-hr1" } });
    return { health: host.health, detail: host.healthDetail, connections: relay.state.connections - before };
  }

  it("one missed handshake: still healthy, checked again on a second connection", async () => {
    expect(await check(0)).toMatchObject({ health: "healthy", connections: 1 });
    expect(await check(1)).toMatchObject({ health: "healthy", detail: null, connections: 2 });
  });

  it("two missed: unreachable, saying it was checked twice; not asked twice while unreachable; back on a good check", async () => {
    const down = await check(2);
    expect(down).toMatchObject({ health: "unreachable", connections: 2 });
    expect(down.detail).toMatch(/checked twice, 300 ms apart/);
    // Already unreachable: one attempt, and it stays so.
    expect(await check(1)).toMatchObject({ health: "unreachable", connections: 1 });
    expect(await check(0)).toMatchObject({ health: "healthy", detail: null, connections: 1 });
  });
});
