// SshPool's bookkeeping against a fake connection (no sshd): bounds, FIFO, retries, idle, abort.
// The same properties against real sshd are in tests/integration/ssh-pool.test.ts.
import { EventEmitter } from "node:events";

import type { ClientChannel } from "ssh2";
import { describe, expect, it, vi } from "vitest";

import { AbortedError } from "@/lib/errors";

import type { ChannelRequest, ConnectOptions, ExecOptions, ExecResult } from "./connection";
import type { SshConfig } from "./ssh-config";
import { SshError } from "./errors";
import { SshPool, type PooledSshConnection } from "./pool";

const PIN = "SHA256:" + "A".repeat(43);

function target(over: Partial<SshConfig> = {}): SshConfig {
  return {
    host: "127.0.0.1",
    port: 2222,
    user: "u",
    identity: { privateKeyPath: "/k" },
    trust: { pinnedFingerprint: PIN },
    ...over,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A stand-in connection: `["sleep", ms]` waits, anything else answers at once. */
class FakeConnection implements PooledSshConnection {
  alive = true;
  readonly hostKey = Buffer.from("fake-host-key");
  readonly hostKeyFingerprint = PIN;
  active = 0;
  peakActive = 0;
  /** Channel opens beyond this fail like OpenSSH's MaxSessions. */
  maxSessions = Number.POSITIVE_INFINITY;
  /** Next exec fails as if the connection had silently died. */
  dieBeforeNextExec = false;
  private readonly listeners = new Set<(reason: Error | undefined) => void>();

  constructor(readonly id: number) {}

  async exec(argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
    if (this.dieBeforeNextExec || !this.alive) {
      this.dieBeforeNextExec = false;
      this.close();
      throw new SshError("SSH_DISCONNECTED", "connection gone", { details: { started: false } });
    }
    if (this.active >= this.maxSessions) {
      throw new SshError("SSH_CHANNEL_OPEN_FAILED", "open failed", { details: { started: false } });
    }
    this.active++;
    this.peakActive = Math.max(this.peakActive, this.active);
    try {
      if (argv[0] === "sleep") await sleep(Number(argv[1]));
      if (argv[0] === "die-while-running") {
        this.close();
        throw new SshError("SSH_DISCONNECTED", "died mid-command", { details: { started: true } });
      }
      return {
        stdout: `${argv.join(" ")} on ${this.id}`,
        stderr: "",
        code: 0,
        signal: null,
        stdoutTruncated: false,
        stderrTruncated: false,
        durationMs: 0,
      };
    } finally {
      this.active--;
    }
    void opts;
  }

  /** Held-open channels (a stand-in ClientChannel: `close()` emits "close"). */
  readonly channels: (EventEmitter & { request: ChannelRequest; close(): void })[] = [];

  async openChannel(request: ChannelRequest): Promise<ClientChannel> {
    await sleep(1);
    if (!this.alive) throw new SshError("SSH_DISCONNECTED", "connection gone", { details: { started: false } });
    if (this.active >= this.maxSessions) throw new SshError("SSH_CHANNEL_OPEN_FAILED", "open failed", { details: { started: false } });
    this.active++;
    this.peakActive = Math.max(this.peakActive, this.active);
    const ch = Object.assign(new EventEmitter(), {
      request,
      close: () => {
        this.active--;
        queueMicrotask(() => ch.emit("close"));
      },
    });
    this.channels.push(ch);
    return ch as unknown as ClientChannel;
  }

  onClose(listener: (reason: Error | undefined) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    if (!this.alive) return;
    this.alive = false;
    for (const l of this.listeners) l(undefined);
  }
}

/** A connect() replacement that records every connection and the concurrent handshakes. */
function fakeConnector(
  opts: { delayMs?: number; fail?: (attempt: number) => Error | undefined; setup?: (c: FakeConnection) => void } = {},
) {
  const made: FakeConnection[] = [];
  let attempts = 0;
  let handshaking = 0;
  let peakHandshaking = 0;
  const configs: SshConfig[] = [];
  const connect = async (config: SshConfig, _o: ConnectOptions): Promise<PooledSshConnection> => {
    configs.push(config);
    const attempt = attempts++;
    handshaking++;
    peakHandshaking = Math.max(peakHandshaking, handshaking);
    try {
      await sleep(opts.delayMs ?? 5);
      const err = opts.fail?.(attempt);
      if (err) throw err;
      const c = new FakeConnection(made.length + 1);
      opts.setup?.(c);
      made.push(c);
      return c;
    } finally {
      handshaking--;
    }
  };
  return {
    connect,
    made,
    configs,
    get attempts() {
      return attempts;
    },
    get peakHandshaking() {
      return peakHandshaking;
    },
  };
}

const EXEC = { timeoutMs: 5_000 };

describe("SshPool bounds", () => {
  it("never exceeds connections per host or channels per connection, and queues the rest", async () => {
    const f = fakeConnector();
    const pool = new SshPool({ connect: f.connect, maxConnectionsPerHost: 2, maxChannelsPerConnection: 3 });
    const results = await Promise.all(Array.from({ length: 20 }, () => pool.exec(target(), ["sleep", "20"], EXEC)));
    expect(results.every((r) => r.code === 0)).toBe(true);
    expect(f.made.length).toBe(2);
    expect(Math.max(...f.made.map((c) => c.peakActive))).toBeLessThanOrEqual(3);
    const s = pool.stats().hosts["127.0.0.1:2222"]!;
    expect(s.peakConnections).toBe(2);
    expect(s.peakChannels).toBe(6);
    expect(s.peakQueued).toBeGreaterThan(0);
    expect(s.activeChannels).toBe(0);
    pool.close();
  });

  it("reuses one connection for sequential calls", async () => {
    const f = fakeConnector();
    const pool = new SshPool({ connect: f.connect });
    for (let i = 0; i < 5; i++) await pool.exec(target(), ["true"], EXEC);
    expect(f.attempts).toBe(1);
    pool.close();
  });

  it("keeps separate bounds per host:port but shares them between users of one host", async () => {
    const f = fakeConnector();
    const pool = new SshPool({
      connect: f.connect,
      maxConnectionsPerHost: 1,
      maxChannelsPerConnection: 1,
      idleMs: 10_000,
    });
    await Promise.all([
      pool.exec(target(), ["sleep", "10"], EXEC),
      pool.exec(target({ port: 2223 }), ["sleep", "10"], EXEC),
      pool.exec(target({ user: "other" }), ["sleep", "10"], EXEC),
    ]);
    const s = pool.stats().hosts;
    expect(s["127.0.0.1:2222"]!.peakConnections).toBe(1);
    expect(s["127.0.0.1:2223"]!.peakConnections).toBe(1);
    // The second user's call needed the slot held by the idle connection of the first: evicted.
    expect(s["127.0.0.1:2222"]!.connectionsOpened).toBe(2);
    pool.close();
  });

  it("limits concurrent handshakes per host", async () => {
    const f = fakeConnector({ delayMs: 30 });
    const pool = new SshPool({
      connect: f.connect,
      maxConnectionsPerHost: 6,
      maxChannelsPerConnection: 1,
      maxHandshakesPerHost: 2,
    });
    await Promise.all(Array.from({ length: 6 }, () => pool.exec(target(), ["sleep", "50"], EXEC)));
    expect(f.peakHandshaking).toBe(2);
    expect(pool.stats().hosts["127.0.0.1:2222"]!.peakHandshakes).toBe(2);
    pool.close();
  });
});

describe("SshPool queue", () => {
  it("serves waiters first come, first served", async () => {
    const f = fakeConnector();
    const pool = new SshPool({ connect: f.connect, maxConnectionsPerHost: 1, maxChannelsPerConnection: 1 });
    const order: number[] = [];
    const first = pool.exec(target(), ["sleep", "30"], EXEC);
    const rest = [1, 2, 3, 4].map((i) => pool.exec(target(), ["echo", String(i)], EXEC).then(() => order.push(i)));
    await Promise.all([first, ...rest]);
    expect(order).toEqual([1, 2, 3, 4]);
    pool.close();
  });

  it("lets a queued caller abort without disturbing the others", async () => {
    const f = fakeConnector();
    const pool = new SshPool({ connect: f.connect, maxConnectionsPerHost: 1, maxChannelsPerConnection: 1 });
    const first = pool.exec(target(), ["sleep", "400"], EXEC);
    let firstSettled = false;
    const settle = () => (firstSettled = true);
    void first.then(settle, settle);
    const ac = new AbortController();
    const aborted = pool.exec(target(), ["echo", "never"], { ...EXEC, signal: ac.signal });
    const after = pool.exec(target(), ["echo", "after"], EXEC);
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 10);
    await expect(aborted).rejects.toBeInstanceOf(AbortedError);
    // The abort ends the wait at once: not when the slot holder finally lets go.
    expect(firstSettled).toBe(false);
    expect(Date.now() - t0).toBeLessThan(300);
    expect((await after).stdout).toContain("after");
    await first;
    expect(pool.stats().hosts["127.0.0.1:2222"]!.queued).toBe(0);
    pool.close();
  });

  it("gives up waiting after queueTimeoutMs with SSH_EXEC_TIMEOUT", async () => {
    const f = fakeConnector();
    const pool = new SshPool({
      connect: f.connect,
      maxConnectionsPerHost: 1,
      maxChannelsPerConnection: 1,
      queueTimeoutMs: 30,
    });
    const first = pool.exec(target(), ["sleep", "120"], EXEC);
    await expect(pool.exec(target(), ["true"], EXEC)).rejects.toMatchObject({ code: "SSH_EXEC_TIMEOUT" });
    await first;
    pool.close();
  });

  it("fails the queued callers of a target whose connection cannot be made", async () => {
    const refused = new SshError("SSH_CONNECT_REFUSED", "nothing is listening");
    const f = fakeConnector({ fail: () => refused, delayMs: 20 });
    const pool = new SshPool({ connect: f.connect, maxConnectionsPerHost: 1, maxChannelsPerConnection: 1 });
    const all = await Promise.allSettled(Array.from({ length: 5 }, () => pool.exec(target(), ["true"], EXEC)));
    expect(all.every((r) => r.status === "rejected" && (r.reason as SshError).code === "SSH_CONNECT_REFUSED")).toBe(true);
    expect(f.attempts).toBe(1);
    pool.close();
  });

  it("rejects waiters and later calls once closed", async () => {
    const f = fakeConnector();
    const pool = new SshPool({ connect: f.connect, maxConnectionsPerHost: 1, maxChannelsPerConnection: 1 });
    const first = pool.exec(target(), ["sleep", "30"], EXEC);
    const waiting = pool.exec(target(), ["true"], EXEC);
    await sleep(10);
    pool.close();
    await expect(waiting).rejects.toBeInstanceOf(AbortedError);
    await first.catch(() => undefined); // what happens in flight is the connection's business
    await expect(pool.exec(target(), ["true"], EXEC)).rejects.toBeInstanceOf(AbortedError);
  });
});

describe("SshPool recovery", () => {
  it("retries a refused channel on another connection and learns the server's limit", async () => {
    const f = fakeConnector({ setup: (c) => (c.maxSessions = 2) });
    const pool = new SshPool({ connect: f.connect, maxConnectionsPerHost: 4, maxChannelsPerConnection: 8 });
    const results = await Promise.all(Array.from({ length: 16 }, () => pool.exec(target(), ["sleep", "15"], EXEC)));
    expect(results.every((r) => r.code === 0)).toBe(true);
    expect(Math.max(...f.made.map((c) => c.peakActive))).toBeLessThanOrEqual(2);
    expect(f.made.length).toBeLessThanOrEqual(4);
    expect(pool.stats().hosts["127.0.0.1:2222"]!.channelsRefused).toBeGreaterThan(0);
    pool.close();
  });

  it("replaces a connection that died while idle", async () => {
    const f = fakeConnector();
    const pool = new SshPool({ connect: f.connect });
    await pool.exec(target(), ["true"], EXEC);
    f.made[0]!.close();
    const r = await pool.exec(target(), ["true"], EXEC);
    expect(r.stdout).toContain("on 2");
    expect(pool.stats().hosts["127.0.0.1:2222"]!.connections).toBe(1);
    pool.close();
  });

  it("retries when the connection turns out dead before the command started", async () => {
    const f = fakeConnector();
    const pool = new SshPool({ connect: f.connect });
    await pool.exec(target(), ["true"], EXEC);
    f.made[0]!.dieBeforeNextExec = true;
    expect((await pool.exec(target(), ["true"], EXEC)).stdout).toContain("on 2");
    pool.close();
  });

  it("does not retry a command that may have run", async () => {
    const f = fakeConnector();
    const pool = new SshPool({ connect: f.connect });
    await expect(pool.exec(target(), ["die-while-running"], EXEC)).rejects.toMatchObject({ code: "SSH_DISCONNECTED" });
    expect(f.attempts).toBe(1);
    pool.close();
  });

  it("retries a handshake that sshd dropped (MaxStartups), then succeeds", async () => {
    const dropped = new SshError("SSH_DISCONNECTED", "closed before banner", {
      details: { started: false, handshakeDropped: true },
    });
    const f = fakeConnector({ fail: (n) => (n === 0 ? dropped : undefined) });
    const pool = new SshPool({ connect: f.connect });
    expect((await pool.exec(target(), ["true"], EXEC)).code).toBe(0);
    expect(f.attempts).toBe(2);
    pool.close();
  });

  it("closes idle connections after idleMs", async () => {
    const f = fakeConnector();
    const pool = new SshPool({ connect: f.connect, idleMs: 40 });
    await pool.exec(target(), ["true"], EXEC);
    expect(pool.stats().hosts["127.0.0.1:2222"]!.connections).toBe(1);
    await vi.waitFor(() => expect(f.made[0]!.alive).toBe(false), { timeout: 5_000, interval: 10 });
    expect(pool.stats().hosts["127.0.0.1:2222"]!.connections).toBe(0);
    pool.close();
  });

  it("hands out the verified host key", async () => {
    const f = fakeConnector();
    const pool = new SshPool({ connect: f.connect });
    expect((await pool.verifiedHostKey(target())).toString()).toBe("fake-host-key");
    pool.close();
  });

  it("answers the host key from a live connection without queueing behind busy channels", async () => {
    const f = fakeConnector();
    const pool = new SshPool({ connect: f.connect, maxConnectionsPerHost: 1, maxChannelsPerConnection: 1 });
    const queuedCount = () => Object.values(pool.stats().hosts)[0]?.queued;
    let busyDone = false;
    const busy = pool.exec(target(), ["sleep", "400"], EXEC).finally(() => (busyDone = true));
    const queued = pool.exec(target(), ["echo", "next"], EXEC);
    // The connection is up and its only channel runs the sleep; the echo waits.
    await vi.waitFor(() => expect(f.made[0]?.active).toBe(1));
    expect(queuedCount()).toBe(1);
    expect((await pool.verifiedHostKey(target())).toString()).toBe("fake-host-key");
    // Answered while the only channel was busy and a caller waited: no slot taken, no place in the queue.
    expect(busyDone).toBe(false);
    expect(queuedCount()).toBe(1);
    expect(f.attempts).toBe(1);
    // Another identity has no live connection yet: it waits in the queue like any caller.
    const other = pool.verifiedHostKey(target({ user: "other" }));
    await vi.waitFor(() => expect(queuedCount()).toBe(2));
    await Promise.all([busy, queued, other]);
    pool.close();
  });

  it("fresh: a handshake of its own beside a live connection, closed at once, without a channel slot", async () => {
    const f = fakeConnector();
    const pool = new SshPool({ connect: f.connect, maxConnectionsPerHost: 1, maxChannelsPerConnection: 1 });
    const busy = pool.exec(target(), ["sleep", "200"], EXEC);
    await vi.waitFor(() => expect(f.made[0]?.active).toBe(1));
    expect((await pool.verifiedHostKey(target(), { fresh: true })).toString()).toBe("fake-host-key");
    expect(f.attempts).toBe(2);
    expect(f.made[1]!.alive).toBe(false);
    expect(f.made[0]!.alive).toBe(true);
    // Not in the pool: still one connection for commands.
    expect(pool.stats().hosts["127.0.0.1:2222"]!.connections).toBe(1);
    await busy;
    pool.close();
  });
});

describe("SshPool held-open channels (the sessions budget)", () => {
  const SHELL: ChannelRequest = { type: "session", pty: { term: "xterm", rows: 24, cols: 80 } };

  it("have their own connections and bounds: commands never wait behind open shells", async () => {
    const f = fakeConnector();
    const pool = new SshPool({
      connect: f.connect,
      maxConnectionsPerHost: 1,
      maxChannelsPerConnection: 2,
      maxSessionConnectionsPerHost: 2,
      maxSessionChannelsPerConnection: 3,
      sessionQueueTimeoutMs: 200,
    });
    const shells = await Promise.all(Array.from({ length: 6 }, () => pool.openChannel(target(), SHELL)));
    let s = pool.stats().hosts["127.0.0.1:2222"]!;
    expect(s).toMatchObject({ sessionConnections: 2, sessionChannels: 6, connections: 0, activeChannels: 0 });
    // The sessions budget is full; a seventh shell waits, then gives up with a clear error.
    await expect(pool.openChannel(target(), SHELL)).rejects.toMatchObject({
      code: "SSH_EXEC_TIMEOUT",
      message: expect.stringContaining("session channel"),
    });
    // Commands still run at once, on a connection of their own.
    const t0 = performance.now();
    const r = await pool.exec(target(), ["echo", "hi"], EXEC);
    expect(r.code).toBe(0);
    expect(performance.now() - t0).toBeLessThan(150);
    s = pool.stats().hosts["127.0.0.1:2222"]!;
    expect(s).toMatchObject({ connections: 1, sessionConnections: 2, peakSessionChannels: 6 });
    // Closing a shell frees its slot for the next session, on the same (pooled) connection.
    shells[0]!.close();
    await vi.waitFor(() => expect(pool.stats().hosts["127.0.0.1:2222"]!.sessionChannels).toBe(5));
    const again = await pool.openChannel(target(), {
      type: "direct-tcpip",
      srcHost: "127.0.0.1",
      srcPort: 1,
      dstHost: "127.0.0.1",
      dstPort: 80,
    });
    expect(f.made.length).toBe(3);
    for (const ch of [...shells.slice(1), again]) ch.close();
    await vi.waitFor(() => expect(pool.stats().hosts["127.0.0.1:2222"]!.sessionChannels).toBe(0));
    pool.close();
  });

  it("fill the busiest session connection first, retry refused opens and pass the request through", async () => {
    const f = fakeConnector({ setup: (c) => (c.maxSessions = 2) });
    const pool = new SshPool({ connect: f.connect, maxSessionConnectionsPerHost: 4, maxSessionChannelsPerConnection: 8 });
    const req: ChannelRequest = { type: "subsystem", name: "sftp" };
    const chans = [];
    for (let i = 0; i < 4; i++) chans.push(await pool.openChannel(target(), req));
    // MaxSessions 2 on the server: the refused opens were retried on a new connection.
    expect(f.made.map((c) => c.active)).toEqual([2, 2]);
    expect(pool.stats().hosts["127.0.0.1:2222"]!.channelsRefused).toBeGreaterThan(0);
    expect(f.made[0]!.channels[0]!.request).toEqual(req);
    for (const ch of chans) ch.close();
    pool.close();
  });
});

describe("SshPool handshake slots", () => {
  it("are FIFO and abortable", async () => {
    const pool = new SshPool({ maxHandshakesPerHost: 1 });
    const h = { host: "127.0.0.9", port: 22 };
    const r1 = await pool.acquireHandshakeSlot(h);
    const ac = new AbortController();
    const aborted = pool.acquireHandshakeSlot(h, ac.signal);
    const second = pool.acquireHandshakeSlot(h);
    ac.abort();
    await expect(aborted).rejects.toBeInstanceOf(AbortedError);
    r1();
    r1(); // releasing twice must not free two slots
    const r2 = await second;
    expect(pool.stats().hosts["127.0.0.9:22"]!.handshakes).toBe(1);
    r2();
    expect(pool.stats().hosts["127.0.0.9:22"]!.handshakes).toBe(0);
    pool.close();
  });
});
