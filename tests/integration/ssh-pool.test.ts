// SshPool against real sshd with OpenSSH's default MaxStartups (10:30:100) and MaxSessions (10):
// bursts stay within the per-host bounds (checked on the server side too), refused channels are
// retried, dead connections replaced, idle ones closed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { AbortedError } from "@/lib/errors";
import type { ManagerContext } from "@/lib/manager/context";
import { metrics } from "@/lib/metrics";
import { SshError, SshPool } from "@/lib/ssh";
import {
  descendants,
  restartVm,
  sshdConnectionCount,
  startBuildVms,
  stopBuildVms,
  vmSshConfig,
  type BuildVm,
  type BuildVms,
} from "@/tests/support/build-vms";

let vms: BuildVms;
let vm1: BuildVm;
let vm2: BuildVm;
let tight: BuildVm;
let flaky: BuildVm;
let wedge: BuildVm;

/** Samples the server-side connection count of some VMs until stopped; returns the peak per VM. */
function sampleServerConnections(targets: BuildVm[]): { stop(): Promise<Map<string, number>> } {
  const peaks = new Map(targets.map((v) => [v.name, 0]));
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const v of targets) peaks.set(v.name, Math.max(peaks.get(v.name)!, await sshdConnectionCount(v)));
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return peaks;
    },
  };
}

beforeAll(async () => {
  vms = await startBuildVms({
    vms: [
      { name: "vm1", address: "127.0.0.1" },
      { name: "vm2", address: "127.0.0.2" },
      // A server that allows fewer sessions per connection than the pool's bound.
      { name: "tight", address: "127.0.0.1", sshdOptions: { MaxSessions: "2" } },
      { name: "flaky", address: "127.0.0.2" },
      // Its connections' sshd processes are frozen (SIGSTOP) by a test: a session that opens no channel.
      { name: "wedge", address: "127.0.0.1" },
    ],
  });
  vm1 = vms.vm("vm1");
  vm2 = vms.vm("vm2");
  tight = vms.vm("tight");
  flaky = vms.vm("flaky");
  wedge = vms.vm("wedge");
});

afterAll(async () => {
  await stopBuildVms(vms);
});

describe("SshPool against real sshd", () => {
  it("runs 50 concurrent commands across two VMs with default MaxStartups, within the per-host bounds", async () => {
    const pool = new SshPool();
    try {
      const sampler = sampleServerConnections([vm1, vm2]);
      const t0 = performance.now();
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          pool.exec(vmSshConfig(vms, i % 2 === 0 ? vm1 : vm2), ["sh", "-c", 'sleep 0.05; echo "$1"', "sh", `job ${i}`], {
            timeoutMs: 20_000,
          }),
        ),
      );
      const elapsed = performance.now() - t0;
      const serverPeaks = await sampler.stop();
      results.forEach((r, i) => expect(r).toMatchObject({ code: 0, stdout: `job ${i}\n` }));
      const stats = pool.stats().hosts;
      for (const vm of [vm1, vm2]) {
        const s = stats[`${vm.host}:${vm.port}`]!;
        expect(s.peakConnections).toBeLessThanOrEqual(4);
        expect(s.peakConnections).toBeGreaterThan(1); // the burst did need more than one
        expect(s.peakHandshakes).toBeLessThanOrEqual(3);
        expect(s.peakChannels).toBeLessThanOrEqual(32);
        expect(s.connectionsOpened).toBe(s.peakConnections); // nothing was dropped and redone
        expect(s.channelsRefused).toBe(0); // 8 channels per connection stay below MaxSessions 10
        expect(serverPeaks.get(vm.name)!).toBeLessThanOrEqual(4);
      }
      console.info(
        `[ssh pool] 50 concurrent execs in ${elapsed.toFixed(0)} ms; per-host peak connections ` +
          `${stats[`${vm1.host}:${vm1.port}`]!.peakConnections}/${stats[`${vm2.host}:${vm2.port}`]!.peakConnections} ` +
          `(server-side ${serverPeaks.get("vm1")}/${serverPeaks.get("vm2")})`,
      );

      // Pooled connections are reused: another 50 open nothing new.
      const opened = stats[`${vm1.host}:${vm1.port}`]!.connectionsOpened;
      const t1 = performance.now();
      await Promise.all(Array.from({ length: 50 }, () => pool.exec(vmSshConfig(vms, vm1), ["true"], { timeoutMs: 10_000 })));
      console.info(`[ssh pool] 50 execs over warm pooled connections in ${(performance.now() - t1).toFixed(0)} ms`);
      expect(pool.stats().hosts[`${vm1.host}:${vm1.port}`]!.connectionsOpened).toBe(opened);
      const sequential: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t = performance.now();
        await pool.exec(vmSshConfig(vms, vm1), ["true"], { timeoutMs: 5_000 });
        sequential.push(performance.now() - t);
      }
      sequential.sort((a, b) => a - b);
      console.info(`[ssh pool] pool.exec on a warm connection: median ${sequential[10]!.toFixed(1)} ms`);
    } finally {
      pool.close();
    }
  });

  it("retries channels refused by a server with MaxSessions below the pool's bound", async () => {
    const pool = new SshPool({ maxConnectionsPerHost: 4, maxChannelsPerConnection: 8 });
    try {
      const results = await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          pool.exec(vmSshConfig(vms, tight), ["sh", "-c", "sleep 0.1; echo $1", "sh", String(i)], {
            timeoutMs: 20_000,
          }),
        ),
      );
      results.forEach((r, i) => expect(r.stdout).toBe(`${i}\n`));
      const s = pool.stats().hosts[`${tight.host}:${tight.port}`]!;
      expect(s.peakConnections).toBeLessThanOrEqual(4);
      // The server did refuse channels (so the retry path ran), and no caller saw it.
      expect(s.channelsRefused).toBeGreaterThan(0);
    } finally {
      pool.close();
    }
  });

  it("drops a connection whose VM restarted and transparently opens a new one", async () => {
    const pool = new SshPool();
    try {
      const config = vmSshConfig(vms, flaky);
      await pool.exec(config, ["true"], { timeoutMs: 5_000 });
      await restartVm(flaky);
      const r = await pool.exec(config, ["echo", "back"], { timeoutMs: 5_000 });
      expect(r.stdout).toBe("back\n");
      const s = pool.stats().hosts[`${flaky.host}:${flaky.port}`]!;
      expect(s.connectionsOpened).toBe(2);
      expect(s.connections).toBe(1);
    } finally {
      pool.close();
    }
  });

  it("refuses a VM rebuilt with a new host key instead of reconnecting to it", async () => {
    const pool = new SshPool();
    try {
      const config = vmSshConfig(vms, flaky, "knownHosts");
      const before = await pool.verifiedHostKey(config);
      expect(before.toString("base64")).toBe(flaky.hostPublicKeyLine.split(" ")[1]);
      await restartVm(flaky, { newHostKey: true });
      const err = (await pool.exec(config, ["true"], { timeoutMs: 5_000 }).catch((e: unknown) => e)) as SshError;
      expect(err).toBeInstanceOf(SshError);
      expect(err.code).toBe("SSH_HOST_KEY_CHANGED");
      expect(err.message).toContain(flaky.hostKeyFingerprint);
    } finally {
      pool.close();
    }
  });

  it("closes idle connections", async () => {
    const pool = new SshPool({ idleMs: 150 });
    try {
      await pool.exec(vmSshConfig(vms, vm2), ["true"], { timeoutMs: 5_000 });
      expect(pool.stats().hosts[`${vm2.host}:${vm2.port}`]!.connections).toBe(1);
      await expect.poll(() => pool.stats().hosts[`${vm2.host}:${vm2.port}`]!.connections, { timeout: 2_000 }).toBe(0);
      await expect.poll(() => sshdConnectionCount(vm2), { timeout: 2_000 }).toBe(0);
    } finally {
      pool.close();
    }
  });

  it("lets a queued caller abort, and frees the channel of a timed-out command", async () => {
    const pool = new SshPool({ maxConnectionsPerHost: 1, maxChannelsPerConnection: 1 });
    try {
      const config = vmSshConfig(vms, vm1);
      const first = pool.exec(config, ["sleep", "3"], { timeoutMs: 10_000 });
      let firstSettled = false;
      const settle = () => (firstSettled = true);
      void first.then(settle, settle);
      const ac = new AbortController();
      const queued = pool.exec(config, ["echo", "never"], { timeoutMs: 10_000, signal: ac.signal });
      setTimeout(() => ac.abort(), 50);
      const t0 = Date.now();
      await expect(queued).rejects.toBeInstanceOf(AbortedError);
      // The abort ends the wait at once, not when the channel's holder lets go (3 s).
      expect(firstSettled).toBe(false);
      expect(Date.now() - t0).toBeLessThan(2_000);
      expect((await first).code).toBe(0);
      await expect(pool.exec(config, ["sleep", "5"], { timeoutMs: 200 })).rejects.toMatchObject({
        code: "SSH_EXEC_TIMEOUT",
      });
      expect(pool.stats().hosts[`${vm1.host}:${vm1.port}`]!.activeChannels).toBe(0);
      expect((await pool.exec(config, ["echo", "ok"], { timeoutMs: 5_000 })).stdout).toBe("ok\n");
    } finally {
      pool.close();
    }
  });

  it("closes a connection that opens no channel (a frozen sshd session) and runs an idempotent command on a new one", async () => {
    // The sshd processes serving the pool's connection are stopped: the TCP connection stays up, but
    // no channel open is ever answered. Keepalives would notice only after 45 s and the command would
    // wait out its whole timeout (a destroy once waited 10 minutes so in a soak).
    const pool = new SshPool();
    const frozen: number[] = [];
    try {
      const config = vmSshConfig(vms, wedge);
      expect((await pool.exec(config, ["true"], { timeoutMs: 5_000 })).code).toBe(0);
      frozen.push(...(await descendants(wedge.pid!)));
      expect(frozen.length).toBeGreaterThan(0);
      for (const pid of frozen) process.kill(pid, "SIGSTOP");

      const t0 = Date.now();
      const result = await pool.exec(config, ["sh", "-c", "echo ran"], { timeoutMs: 30_000, openTimeoutMs: 1_000, idempotent: true });
      expect(result.stdout).toBe("ran\n");
      expect(Date.now() - t0).toBeLessThan(10_000);
      const stats = pool.stats().hosts[`${wedge.host}:${wedge.port}`]!;
      expect(stats.connectionsWedged).toBe(1);
      expect(stats.connectionsOpened).toBe(2);

      // A command that may not run twice is reported, not retried, and its connection closed too.
      const more = await descendants(wedge.pid!);
      const fresh = more.filter((pid) => !frozen.includes(pid));
      frozen.push(...fresh);
      for (const pid of fresh) process.kill(pid, "SIGSTOP");
      await expect(pool.exec(config, ["sh", "-c", "echo once"], { timeoutMs: 30_000, openTimeoutMs: 1_000 })).rejects.toMatchObject({
        code: "SSH_EXEC_TIMEOUT",
        message: expect.stringMatching(/did not open a channel for `sh` within 1000 ms .*whether the command started is unknown/),
        details: { connectionWedged: true, startUnknown: true },
      });
      expect(pool.stats().hosts[`${wedge.host}:${wedge.port}`]!).toMatchObject({ connectionsWedged: 2, connections: 0 });
      // What an operator sees: the process's /api/metrics series, per host.
      const text = await metrics(() => ({ ssh: { pool } }) as unknown as ManagerContext).registry.metrics();
      const line = text
        .split("\n")
        .find((l) => l.startsWith("sandboxer_ssh_connections_wedged_total{") && l.includes(`host="${wedge.host}:${wedge.port}"`));
      expect(line).toMatch(/ 2$/);
    } finally {
      pool.close();
      for (const pid of frozen) {
        try {
          process.kill(pid, "SIGCONT");
        } catch {
          // Gone already.
        }
      }
    }
  });

  it("execChecked throws SSH_COMMAND_FAILED for a non-zero exit", async () => {
    const pool = new SshPool();
    try {
      await expect(
        pool.execChecked(vmSshConfig(vms, vm2), ["sh", "-c", "echo nope >&2; exit 4"], { timeoutMs: 5_000 }),
      ).rejects.toMatchObject({
        code: "SSH_COMMAND_FAILED",
        message: expect.stringContaining("nope"),
      });
    } finally {
      pool.close();
    }
  });
});
