// SshPool owns every SSH connection the process holds and the limits that keep a build VM's sshd
// happy: per host:port at most `maxConnectionsPerHost` connections, each with at most
// `maxChannelsPerConnection` concurrent exec channels (below OpenSSH's MaxSessions 10), and at most
// `maxHandshakesPerHost` unauthenticated connections at a time (OpenSSH's default MaxStartups
// 10:30:100 starts dropping new connections beyond 10; rsync's ssh handshakes count here too).
// Callers beyond the bounds wait in one FIFO queue per host. Dead connections are dropped and
// replaced; a refused channel is retried elsewhere; idle connections are closed.
// Channels that people hold open (gateway shells, sftp, port forwards, Packer's tunnel) use a separate
// budget — their own connections with their own bounds — so creates and destroys never wait behind
// open shells, and a burst of sessions never takes the worker's channel slots.
import "server-only";

import { AbortedError, ValidationError, hasCode, throwIfAborted } from "@/lib/errors";

import type { ClientChannel } from "ssh2";

import {
  checkExitStatus,
  connect,
  type ChannelRequest,
  type ConnectOptions,
  type ExecOptions,
  type ExecResult,
  type OpenChannelOptions,
  type SshConnection,
} from "./connection";
import { SshError, hostPort, isSshError } from "./errors";
import { shellCommand } from "./shell-quote";
import { DEFAULT_READY_TIMEOUT_MS, describeTarget, parseSshConfig, type ResolvedSshConfig, type SshConfig } from "./ssh-config";

/** What the pool needs from a connection (SshConnection; a fake in unit tests). */
export type PooledSshConnection = Pick<
  SshConnection,
  "exec" | "openChannel" | "close" | "alive" | "onClose" | "hostKey" | "hostKeyFingerprint"
>;

/** Which channel budget a slot comes from: the worker's commands, or channels people hold open. */
export type ChannelBudget = "commands" | "sessions";

export interface SshPoolOptions {
  /** Default 4. */
  maxConnectionsPerHost?: number;
  /** Default 8: OpenSSH's MaxSessions is 10, and a just-closed channel may still count there for a moment. */
  maxChannelsPerConnection?: number;
  /** Default 3: far below MaxStartups' 10, leaving room for other clients (and other processes) of the same VM. */
  maxHandshakesPerHost?: number;
  /** Connections per host for held-open channels (see {@link SshPool.openChannel}). Default 8. */
  maxSessionConnectionsPerHost?: number;
  /** Held-open channels per such connection. Default 8 (OpenSSH's MaxSessions 10 counts session channels). */
  maxSessionChannelsPerConnection?: number;
  /** Longest a held-open channel waits for a slot: a person is waiting. Default 10 s. */
  sessionQueueTimeoutMs?: number;
  /** Idle connections are closed after this long. Default 30 s. */
  idleMs?: number;
  /** Handshake limit for connections the pool opens (a config's own readyTimeoutMs wins). Default 20 s. */
  readyTimeoutMs?: number;
  /** Longest a caller waits for a free channel before SSH_EXEC_TIMEOUT. Default 120 s. */
  queueTimeoutMs?: number;
  /** Extra attempts when sshd drops a connection before its banner (MaxStartups from other clients). Default 2. */
  handshakeRetries?: number;
  /** How often an exec whose channel was refused or whose connection died before it started is retried. Default 5. */
  maxStartRetries?: number;
  /** Replaces {@link connect}, for unit tests. */
  connect?: (config: SshConfig, opts: ConnectOptions) => Promise<PooledSshConnection>;
}

export interface SshHostStats {
  /** Connections open or being opened now. */
  connections: number;
  peakConnections: number;
  /** Connections opened over the pool's lifetime. */
  connectionsOpened: number;
  activeChannels: number;
  peakChannels: number;
  queued: number;
  peakQueued: number;
  handshakes: number;
  peakHandshakes: number;
  /** Channel opens the server refused (e.g. its MaxSessions is below our bound); each was retried. */
  channelsRefused: number;
  /** Connections closed because they were up but opened no channel for a command (a wedged session). */
  connectionsWedged: number;
  /** The held-open budget (sessions, sftp, forwards): connections and channels now, and their peaks. */
  sessionConnections: number;
  sessionChannels: number;
  peakSessionChannels: number;
}

export interface SshPoolStats {
  /** Keyed by `host:port`. */
  hosts: Record<string, SshHostStats>;
}

interface PoolConn {
  readonly id: number;
  readonly key: string;
  readonly budget: ChannelBudget;
  readonly host: HostState;
  conn: PooledSshConnection | undefined;
  ready: Promise<PooledSshConnection>;
  /** Channel slots handed out, including to callers still waiting for `ready`. */
  active: number;
  /** Lowered when the server refuses a channel below the configured bound. */
  limit: number;
  idleTimer: NodeJS.Timeout | undefined;
  dead: boolean;
  /** Takes no new channels and closes when its last one ends (see forgetConnections). */
  retiring: boolean;
}

interface SlotWaiter {
  readonly key: string;
  readonly budget: ChannelBudget;
  readonly cfg: ResolvedSshConfig;
  resolve(pc: PoolConn): void;
  reject(err: Error): void;
}

interface HandshakeWaiter {
  resolve(release: () => void): void;
  reject(err: Error): void;
}

interface HostState {
  readonly name: string;
  readonly conns: Set<PoolConn>;
  readonly waiters: SlotWaiter[];
  readonly handshakeWaiters: HandshakeWaiter[];
  handshakes: number;
  stats: SshHostStats;
}

function poolKey(cfg: ResolvedSshConfig): string {
  const identity = "agent" in cfg.identity ? `agent:${cfg.identity.agentSocket ?? ""}` : `key:${cfg.identity.privateKeyPath}`;
  const trust = `${"pinnedFingerprint" in cfg.trust ? `pin:${cfg.trust.pinnedFingerprint}` : ""}|kh:${cfg.trust.knownHostsPath ?? ""}`;
  return JSON.stringify([cfg.host.toLowerCase(), cfg.port, cfg.user, identity, trust]);
}

function hostName(target: { host: string; port?: number }): string {
  return hostPort(target.host.toLowerCase(), target.port ?? 22);
}

function positive(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new ValidationError(`${name} must be a positive integer`, { [name]: ["must be ≥ 1"] });
  return v;
}

/** Races a promise against an abort signal (the promise keeps running; only the wait ends). */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (!signal) return promise;
  throwIfAborted(signal);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      const reason: unknown = signal.reason;
      reject(hasCode(reason, "ABORTED") ? reason : new AbortedError(`${what} was cancelled`));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class SshPool {
  private readonly maxConnections: number;
  private readonly maxChannels: number;
  private readonly maxHandshakes: number;
  private readonly maxSessionConnections: number;
  private readonly maxSessionChannels: number;
  private readonly sessionQueueTimeoutMs: number;
  private readonly idleMs: number;
  private readonly readyTimeoutMs: number;
  private readonly queueTimeoutMs: number;
  private readonly handshakeRetries: number;
  private readonly maxStartRetries: number;
  private readonly connectFn: (config: SshConfig, opts: ConnectOptions) => Promise<PooledSshConnection>;
  private readonly hosts = new Map<string, HostState>();
  private nextId = 1;
  private closed = false;
  private readonly closeHooks: (() => void)[] = [];

  constructor(options: SshPoolOptions = {}) {
    this.maxConnections = positive("maxConnectionsPerHost", options.maxConnectionsPerHost, 4);
    this.maxChannels = positive("maxChannelsPerConnection", options.maxChannelsPerConnection, 8);
    this.maxHandshakes = positive("maxHandshakesPerHost", options.maxHandshakesPerHost, 3);
    this.maxSessionConnections = positive("maxSessionConnectionsPerHost", options.maxSessionConnectionsPerHost, 8);
    this.maxSessionChannels = positive("maxSessionChannelsPerConnection", options.maxSessionChannelsPerConnection, 8);
    this.sessionQueueTimeoutMs = positive("sessionQueueTimeoutMs", options.sessionQueueTimeoutMs, 10_000);
    this.idleMs = positive("idleMs", options.idleMs, 30_000);
    this.readyTimeoutMs = positive("readyTimeoutMs", options.readyTimeoutMs, DEFAULT_READY_TIMEOUT_MS);
    this.queueTimeoutMs = positive("queueTimeoutMs", options.queueTimeoutMs, 120_000);
    this.handshakeRetries = options.handshakeRetries ?? 2;
    this.maxStartRetries = options.maxStartRetries ?? 5;
    this.connectFn = options.connect ?? connect;
  }

  /**
   * Runs argv on the target over a pooled connection (see SshConnection.exec for the semantics:
   * non-zero exit is returned, timeout/abort kill the remote process). Waits for a free channel if
   * the host is at its bounds; retries on another connection when the server refuses a channel or a
   * connection turns out dead before the command started.
   */
  async exec(config: SshConfig, argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
    const cfg = parseSshConfig(config);
    shellCommand(argv);
    if (!Number.isFinite(opts.timeoutMs) || opts.timeoutMs <= 0) {
      throw new ValidationError("exec needs a positive timeoutMs", { timeoutMs: ["must be a positive number"] });
    }
    for (let attempt = 0; ; attempt++) {
      const pc = await this.acquire(cfg, "commands", opts.signal);
      try {
        const conn = await untilAborted(pc.ready, opts.signal, `waiting for a connection to ${describeTarget(cfg)}`);
        return await conn.exec(argv, opts);
      } catch (e) {
        if (!this.closed && attempt < this.maxStartRetries && isSshError(e) && e.details?.started === false) {
          if (e.code === "SSH_CHANNEL_OPEN_FAILED") {
            // The server's MaxSessions is below our bound: remember it for this connection.
            pc.limit = Math.max(1, Math.min(pc.limit, pc.active - 1));
            pc.host.stats.channelsRefused++;
            continue;
          }
          if (e.code === "SSH_DISCONNECTED" && pc.conn !== undefined) {
            this.drop(pc);
            continue;
          }
        }
        if (isSshError(e, "SSH_EXEC_TIMEOUT") && e.details?.connectionWedged === true) {
          // It opens no channels: no one else gets it. Closing it ends the session on the server, so
          // a command that did start there is hung up on; one that checks before it acts runs again.
          pc.host.stats.connectionsWedged++;
          this.drop(pc);
          if (!this.closed && attempt < this.maxStartRetries && opts.idempotent === true) continue;
        }
        throw e;
      } finally {
        this.release(pc);
      }
    }
  }

  /**
   * Opens a channel the caller holds and drives (see SshConnection.openChannel): a shell or raw
   * command with or without a pty, a subsystem (sftp), or `direct-tcpip` to an address as the host
   * sees it. It comes from the "sessions" budget — pooled connections separate from the ones
   * commands use, with their own bounds — and its slot is released when the channel closes. A
   * pooled connection is reused when one has room, so a session costs no handshake then. Refused
   * session channels and connections found dead before the open are retried like exec's.
   */
  async openChannel(config: SshConfig, request: ChannelRequest, opts: OpenChannelOptions = {}): Promise<ClientChannel> {
    const cfg = parseSshConfig(config);
    for (let attempt = 0; ; attempt++) {
      const pc = await this.acquire(cfg, "sessions", opts.signal);
      let channel: ClientChannel | undefined;
      try {
        const conn = await untilAborted(pc.ready, opts.signal, `waiting for a connection to ${describeTarget(cfg)}`);
        channel = await conn.openChannel(request, opts);
        let released = false;
        channel.once("close", () => {
          if (released) return;
          released = true;
          this.release(pc);
        });
        return channel;
      } catch (e) {
        const retry = !this.closed && attempt < this.maxStartRetries && isSshError(e) && e.details?.started === false;
        if (retry && e.code === "SSH_CHANNEL_OPEN_FAILED") {
          // The server's MaxSessions is below our bound: remember it for this connection.
          pc.limit = Math.max(1, Math.min(pc.limit, pc.active - 1));
          pc.host.stats.channelsRefused++;
        }
        this.release(pc);
        if (retry && e.code === "SSH_CHANNEL_OPEN_FAILED") continue;
        if (retry && e.code === "SSH_DISCONNECTED" && pc.conn !== undefined) {
          this.drop(pc);
          continue;
        }
        throw e;
      }
    }
  }

  /** Like {@link exec} but a non-zero exit throws SSH_COMMAND_FAILED naming the command, exit code and last stderr lines. */
  async execChecked(config: SshConfig, argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
    const result = await this.exec(config, argv, opts);
    return checkExitStatus(argv, result, describeTarget(config));
  }

  /**
   * The host key blob verified for this target (connecting if needed), e.g. for rsync's known_hosts.
   * With `fresh`, the key comes from a handshake made now: a live pooled connection proves nothing
   * about new ones (a VM whose sshd listener died keeps its open sessions), so a host check asks for
   * one. It goes through the host's handshake bound and is closed at once; when no connection is
   * open, the pooled one the lookup opens anyway is that handshake.
   */
  async verifiedHostKey(config: SshConfig, opts: { signal?: AbortSignal; fresh?: boolean } = {}): Promise<Buffer> {
    const cfg = parseSshConfig(config);
    this.assertOpen();
    // A live connection for this config (same pool key, so the same trust) already verified the key:
    // no channel slot, no queueing behind running commands.
    const key = poolKey(cfg);
    const host = this.hostState(hostName(cfg));
    const live = [...host.conns].find((pc) => !pc.dead && !pc.retiring && pc.key === key && pc.conn?.alive)?.conn;
    if (live && !opts.fresh) return Buffer.from(live.hostKey);
    if (live) {
      const connecting = this.establish(host, cfg);
      // Closed when it is made, whether or not the caller still waits for it.
      void connecting.then(
        (conn) => conn.close(),
        () => undefined,
      );
      const conn = await untilAborted(connecting, opts.signal, `connecting to ${describeTarget(cfg)}`);
      return Buffer.from(conn.hostKey);
    }
    const pc = await this.acquire(cfg, "commands", opts.signal);
    try {
      const conn = await untilAborted(pc.ready, opts.signal, `connecting to ${describeTarget(cfg)}`);
      return Buffer.from(conn.hostKey);
    } finally {
      this.release(pc);
    }
  }

  /**
   * Makes the next use of a host connect afresh, so its key is verified against what the host offers
   * now (after a rebuild in place regenerated it, say): idle connections close at once, busy ones take
   * no new channels and close when their last one ends.
   */
  forgetConnections(target: { host: string; port?: number }): void {
    const host = this.hosts.get(hostName(target));
    if (!host) return;
    for (const pc of [...host.conns]) {
      if (pc.active === 0) this.drop(pc);
      else pc.retiring = true;
    }
  }

  /**
   * Waits for one of the host's handshake slots and returns its release function. For connections
   * the pool does not make itself (rsync's ssh): hold it until that client has authenticated.
   */
  async acquireHandshakeSlot(target: { host: string; port?: number }, signal?: AbortSignal): Promise<() => void> {
    this.assertOpen();
    throwIfAborted(signal);
    const host = this.hostState(hostName(target));
    if (host.handshakes < this.maxHandshakes && host.handshakeWaiters.length === 0) return this.grantHandshake(host);
    return new Promise<() => void>((resolve, reject) => {
      const waiter: HandshakeWaiter = {
        resolve: (release) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(release);
        },
        reject: (err) => {
          signal?.removeEventListener("abort", onAbort);
          reject(err);
        },
      };
      const onAbort = (): void => {
        const i = host.handshakeWaiters.indexOf(waiter);
        if (i >= 0) host.handshakeWaiters.splice(i, 1);
        const reason: unknown = signal?.reason;
        reject(hasCode(reason, "ABORTED") ? reason : new AbortedError(`waiting to connect to ${host.name} was cancelled`));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      host.handshakeWaiters.push(waiter);
    });
  }

  /** Current and peak numbers per host:port. */
  stats(): SshPoolStats {
    const hosts: Record<string, SshHostStats> = {};
    for (const [name, h] of this.hosts) hosts[name] = { ...h.stats };
    return { hosts };
  }

  /** Runs `fn` when the pool closes (helpers that keep per-pool processes, e.g. rsync's SSH masters). */
  onClose(fn: () => void): void {
    if (this.closed) fn();
    else this.closeHooks.push(fn);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Closes every connection and fails every waiter; the pool cannot be used afterwards. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fn of this.closeHooks.splice(0)) {
      try {
        fn();
      } catch {
        // A hook failing must not keep connections open.
      }
    }
    const err = new AbortedError("the SSH pool was closed");
    for (const host of this.hosts.values()) {
      for (const w of host.waiters.splice(0)) w.reject(err);
      for (const w of host.handshakeWaiters.splice(0)) w.reject(err);
      for (const pc of [...host.conns]) this.drop(pc);
      host.stats.queued = 0;
    }
  }

  // ---- internals ----

  private assertOpen(): void {
    if (this.closed) throw new AbortedError("the SSH pool was closed");
  }

  private hostState(name: string): HostState {
    let h = this.hosts.get(name);
    if (!h) {
      h = {
        name,
        conns: new Set(),
        waiters: [],
        handshakeWaiters: [],
        handshakes: 0,
        stats: {
          connections: 0,
          peakConnections: 0,
          connectionsOpened: 0,
          activeChannels: 0,
          peakChannels: 0,
          queued: 0,
          peakQueued: 0,
          handshakes: 0,
          peakHandshakes: 0,
          channelsRefused: 0,
          connectionsWedged: 0,
          sessionConnections: 0,
          sessionChannels: 0,
          peakSessionChannels: 0,
        },
      };
      this.hosts.set(name, h);
    }
    return h;
  }

  private grantHandshake(host: HostState): () => void {
    host.handshakes++;
    host.stats.handshakes = host.handshakes;
    host.stats.peakHandshakes = Math.max(host.stats.peakHandshakes, host.handshakes);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      host.handshakes--;
      host.stats.handshakes = host.handshakes;
      const next = host.handshakeWaiters.shift();
      if (next) next.resolve(this.grantHandshake(host));
    };
  }

  /** A channel slot on a connection for this config: now, or when one frees up (FIFO). */
  private acquire(cfg: ResolvedSshConfig, budget: ChannelBudget, signal: AbortSignal | undefined): Promise<PoolConn> {
    this.assertOpen();
    throwIfAborted(signal);
    const key = budget === "commands" ? poolKey(cfg) : `sessions:${poolKey(cfg)}`;
    const host = this.hostState(hostName(cfg));
    if (!host.waiters.some((w) => w.budget === budget)) {
      const pc = this.tryAllocate(host, key, budget, cfg);
      if (pc) return Promise.resolve(pc);
    }
    const queueTimeoutMs = budget === "commands" ? this.queueTimeoutMs : this.sessionQueueTimeoutMs;
    const [maxConns, maxChans] = this.bounds(budget);
    return new Promise<PoolConn>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const waiter: SlotWaiter = {
        key,
        budget,
        cfg,
        resolve: (pc) => {
          cleanup();
          resolve(pc);
        },
        reject: (err) => {
          cleanup();
          reject(err);
        },
      };
      const leave = (err: Error): void => {
        const i = host.waiters.indexOf(waiter);
        if (i < 0) return;
        host.waiters.splice(i, 1);
        host.stats.queued = host.waiters.length;
        waiter.reject(err);
      };
      const onAbort = (): void => {
        const reason: unknown = signal?.reason;
        leave(hasCode(reason, "ABORTED") ? reason : new AbortedError(`waiting for an SSH channel to ${host.name} was cancelled`));
      };
      const timer = setTimeout(() => {
        leave(
          new SshError(
            "SSH_EXEC_TIMEOUT",
            `waited ${queueTimeoutMs} ms for a free SSH ${budget === "commands" ? "" : "session "}channel to ${host.name} ` +
              `(${maxConns} connections × ${maxChans} channels busy, ${host.waiters.length} waiting)`,
            { details: { started: false, host: host.name } },
          ),
        );
      }, queueTimeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      host.waiters.push(waiter);
      host.stats.queued = host.waiters.length;
      host.stats.peakQueued = Math.max(host.stats.peakQueued, host.waiters.length);
    });
  }

  private bounds(budget: ChannelBudget): [connections: number, channels: number] {
    return budget === "commands" ? [this.maxConnections, this.maxChannels] : [this.maxSessionConnections, this.maxSessionChannels];
  }

  private countConns(host: HostState, budget: ChannelBudget): number {
    let n = 0;
    for (const pc of host.conns) if (pc.budget === budget) n++;
    return n;
  }

  private tryAllocate(host: HostState, key: string, budget: ChannelBudget, cfg: ResolvedSshConfig): PoolConn | undefined {
    const [maxConns, maxChans] = this.bounds(budget);
    let best: PoolConn | undefined;
    for (const pc of host.conns) {
      if (pc.dead || pc.retiring || pc.key !== key || pc.active >= pc.limit) continue;
      if (pc.conn !== undefined && !pc.conn.alive) continue;
      // Commands spread over connections (least busy first); sessions fill the busiest one that has room,
      // so that idle session connections time out instead of each holding one shell.
      if (!best || (budget === "commands" ? pc.active < best.active : pc.active > best.active)) best = pc;
    }
    if (!best && this.countConns(host, budget) >= maxConns) {
      // Make room by closing an idle connection of this budget that serves another user or key.
      const idle = [...host.conns].find((pc) => pc.budget === budget && pc.active === 0 && pc.key !== key && pc.conn !== undefined);
      // No drain here: we may be inside one, and the freed capacity is used right below.
      if (idle) this.drop(idle, { drain: false });
    }
    if (!best && this.countConns(host, budget) < maxConns) best = this.openConnection(host, key, budget, maxChans, cfg);
    if (!best) return undefined;
    best.active++;
    clearTimeout(best.idleTimer);
    best.idleTimer = undefined;
    this.updateChannelStats(host);
    return best;
  }

  private openConnection(host: HostState, key: string, budget: ChannelBudget, limit: number, cfg: ResolvedSshConfig): PoolConn {
    const pc: PoolConn = {
      id: this.nextId++,
      key,
      budget,
      host,
      conn: undefined,
      ready: Promise.resolve(undefined as never),
      active: 0,
      limit,
      idleTimer: undefined,
      dead: false,
      retiring: false,
    };
    pc.ready = this.establish(host, cfg);
    // Callers observe `ready` themselves; this handler keeps a failure from going unhandled.
    pc.ready.then(
      (conn) => {
        if (pc.dead) {
          conn.close();
          return;
        }
        pc.conn = conn;
        conn.onClose(() => this.drop(pc));
        if (pc.active === 0) this.scheduleIdle(pc);
        else this.drain(host);
      },
      (err: unknown) => {
        // Callers queued for the same target would meet the same failure; tell them now (before
        // the drop below lets them open yet another doomed connection).
        const e = err instanceof Error ? err : new Error(String(err));
        for (const w of host.waiters.filter((w) => w.key === key)) {
          host.waiters.splice(host.waiters.indexOf(w), 1);
          w.reject(e);
        }
        host.stats.queued = host.waiters.length;
        this.drop(pc);
      },
    );
    host.conns.add(pc);
    this.updateConnectionStats(host);
    host.stats.connectionsOpened++;
    return pc;
  }

  private async establish(host: HostState, cfg: ResolvedSshConfig): Promise<PooledSshConnection> {
    for (let attempt = 0; ; attempt++) {
      this.assertOpen();
      const release = await this.acquireHandshakeSlot(cfg);
      try {
        return await this.connectFn(cfg, { readyTimeoutMs: cfg.readyTimeoutMs ?? this.readyTimeoutMs });
      } catch (e) {
        // sshd drops connections beyond MaxStartups before its banner; someone else's burst can
        // cause that even when we stay under our own bound, so a couple of paced retries.
        if (attempt < this.handshakeRetries && isSshError(e, "SSH_DISCONNECTED") && e.details?.handshakeDropped === true) {
          await sleep(100 * (attempt + 1) + Math.floor(Math.random() * 100));
          continue;
        }
        throw e;
      } finally {
        release();
      }
    }
  }

  private release(pc: PoolConn): void {
    pc.active = Math.max(0, pc.active - 1);
    this.updateChannelStats(pc.host);
    if (pc.dead) return;
    if (pc.retiring && pc.active === 0) return this.drop(pc);
    if (pc.active === 0 && pc.conn !== undefined) this.scheduleIdle(pc);
    this.drain(pc.host);
  }

  private scheduleIdle(pc: PoolConn): void {
    clearTimeout(pc.idleTimer);
    pc.idleTimer = setTimeout(() => {
      if (pc.active === 0) this.drop(pc);
    }, this.idleMs);
    pc.idleTimer.unref();
  }

  /** Removes a connection from the pool (closing it) and lets waiters use the freed capacity. */
  private drop(pc: PoolConn, opts: { drain?: boolean } = {}): void {
    if (pc.dead) return;
    pc.dead = true;
    clearTimeout(pc.idleTimer);
    pc.conn?.close();
    const host = pc.host;
    host.conns.delete(pc);
    this.updateConnectionStats(host);
    this.updateChannelStats(host);
    if (opts.drain !== false) this.drain(host);
  }

  private drain(host: HostState): void {
    if (this.closed) return;
    for (let i = 0; i < host.waiters.length; ) {
      const w = host.waiters[i]!;
      const pc = this.tryAllocate(host, w.key, w.budget, w.cfg);
      if (!pc) {
        i++;
        continue;
      }
      host.waiters.splice(i, 1);
      host.stats.queued = host.waiters.length;
      w.resolve(pc);
    }
  }

  private updateConnectionStats(host: HostState): void {
    const commands = this.countConns(host, "commands");
    host.stats.connections = commands;
    host.stats.peakConnections = Math.max(host.stats.peakConnections, commands);
    host.stats.sessionConnections = host.conns.size - commands;
  }

  private updateChannelStats(host: HostState): void {
    let active = 0;
    let sessions = 0;
    for (const pc of host.conns) {
      if (pc.budget === "commands") active += pc.active;
      else sessions += pc.active;
    }
    host.stats.activeChannels = active;
    host.stats.peakChannels = Math.max(host.stats.peakChannels, active);
    host.stats.sessionChannels = sessions;
    host.stats.peakSessionChannels = Math.max(host.stats.peakSessionChannels, sessions);
  }
}
