// The SSH gateway: an ssh2 server in the sand-boxer process that carries people's SSH into their
// sandboxes. The SSH user name is the sandbox id; people authenticate with public keys registered in
// sand-boxer; the policy is the destroy policy (owner or admin, `sandbox.enter`), and only `ready`
// sandboxes with an SSH endpoint can be entered. Each channel is relayed over the server's pooled,
// host-key-pinned connection to the VM (lib/ssh's sessions budget): shells and commands under a pty
// or not (starting in the workspace), sftp, and direct-tcpip to the VM's own loopback. Remote
// forwarding, agent and X11 forwarding are refused; only LANG, LC_* and TERM pass from `env`.
//
// One SSH connection is one session row (lib/db/ssh-sessions.ts): who, which key, from where, on
// which instance, bytes each way, how it ended. Close requests written by any instance (an admin's
// "end session", a destroy) are picked up within `closePollMs`. Refusals are one line (an SSH
// userauth banner, then "Permission denied") and audited with the source address.
import "server-only";

import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";

import ssh2 from "ssh2";
import type { AuthContext, ClientChannel, Connection, ServerChannel, Session } from "ssh2";
import { z } from "zod";

import type { Actor } from "../auth/actor";
import { can } from "../auth/policy";
import type { Db } from "../db/client";
import { findSandboxRow } from "../db/sandboxes";
import { findSshKeyWithUser, touchSshKey } from "../db/ssh-keys";
import {
  endSessionsOfDeadGateways,
  endSshSession,
  gatewayHeartbeat,
  insertSshSession,
  liveGateways,
  newSessionId,
  removeGateway,
  sshSessionCloseRequests,
  updateSshSession,
} from "../db/ssh-sessions";
import { SandboxerError } from "../errors";
import type { SshServices } from "../extensions/base";
import { localHandleSchema } from "../extensions/local/extension";
import { guardedWorkspacePath, remoteHandleShape, sshConfigFor } from "../extensions/remote/ssh-target";
import type { Logger } from "../logger";
import { audit, type AuditActor } from "../manager/audit";
import { isSandboxId, workspaceName } from "../sandbox-id";
import { exitOf, shellCommand, type ChannelRequest, type PtyRequest, type SshConfig } from "../ssh";
import { SSH2_ALGORITHMS } from "../ssh/algorithms";
import { resizeLocalSession, sftpServerPath, signalLocalSession, startLocalSession, type LocalSessionSpec } from "./local-session";
import { sha256Fingerprint } from "./public-keys";

const remoteHandle = z.object(remoteHandleShape);

/** Thrown when the gateway cannot start (its address is taken or invalid). */
export class GatewayError extends SandboxerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("GATEWAY_LISTEN_FAILED", message, { ...options, name: "GatewayError" });
  }
}

export interface GatewayLimits {
  /** An unauthenticated connection is closed after this long. Default 10 s. */
  handshakeTimeoutMs: number;
  /** Unauthenticated connections at once; more are closed at accept. Default 2,000. */
  maxUnauthenticated: number;
  /** Concurrent sessions (connections) per person on this instance. Default 20. */
  maxSessionsPerPerson: number;
  /** Open channels per connection (sessions + forwards). Default 10, like OpenSSH's MaxSessions. */
  maxChannelsPerConnection: number;
  /** Failed authentications per source address, and per key, within `failureWindowMs`. Defaults 30 and 10. */
  maxFailuresPerAddress: number;
  maxFailuresPerKey: number;
  failureWindowMs: number;
}

export const DEFAULT_GATEWAY_LIMITS: GatewayLimits = {
  handshakeTimeoutMs: 10_000,
  maxUnauthenticated: 2_000,
  maxSessionsPerPerson: 20,
  maxChannelsPerConnection: 10,
  maxFailuresPerAddress: 30,
  maxFailuresPerKey: 10,
  failureWindowMs: 60_000,
};

export interface GatewayOptions {
  db: Db;
  ssh: SshServices;
  logger: Logger;
  hostKey: { privateKey: string; fingerprint: string };
  listen: { host: string; port: number };
  /** This process's id in session rows (default hostname:pid:random). */
  instanceId?: string;
  /** This machine's id (lib/machine-id.ts): local sandboxes of other machines are refused. */
  machineId?: string;
  /**
   * The extensions whose workspaces are directories on the sand-boxer server (the catalog's
   * machine-local ones). Only their sandboxes are entered as local processes, and never through a
   * build VM: what a sandbox is comes from its extension, not from the shape of its handle (another
   * extension's handle that looks like a local one gets no shell here). Default: ext.local.
   */
  localExtensions?: readonly string[];
  limits?: Partial<GatewayLimits>;
  /** How often close requests are read from the database. Default 1 s. */
  closePollMs?: number;
  /** How often session byte counts and the gateway heartbeat are written. Default 5 s. */
  progressMs?: number;
}

const DEFAULT_LOCAL_EXTENSIONS: readonly string[] = ["ext.local"];

/** Environment variables a client may set (everything else is refused). */
function envAllowed(name: string): boolean {
  return name === "LANG" || name === "TERM" || /^LC_[A-Z_]{1,32}$/.test(name);
}

/** Keeps what may reach a terminal or a log from hostile text: printable, bounded. */
function cleanText(s: string, max = 200): string {
  return s.replace(/[^\x20-\x7e]/g, "?").slice(0, max);
}

const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "::1", "ip6-localhost"]);

/** Whether a listen address is loopback only (127.0.0.0/8, ::1, localhost). */
export function isLoopbackListen(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  return net.isIPv4(h) && h.startsWith("127.");
}

/**
 * Why a person may not enter a local sandbox (ext.local: a directory on the sand-boxer server, entered
 * as the server's own user), or null: admins only, only while the gateway listens on loopback, and
 * only on the machine that holds the directory.
 */
export function localAdmission(opts: {
  sandboxId: string;
  role: "admin" | "member";
  listenHost: string;
  sandboxMachine: string | null;
  thisMachine: string | undefined;
}): string | null {
  const what = `sandbox ${opts.sandboxId} is a local sandbox (a directory on the sand-boxer server)`;
  if (opts.role !== "admin") return `${what}; only admins may enter local sandboxes`;
  if (!isLoopbackListen(opts.listenHost)) {
    return `${what}; local sandboxes can be entered only while the gateway listens on loopback, and it listens on ${cleanText(opts.listenHost, 64)}`;
  }
  if (opts.sandboxMachine && opts.thisMachine && opts.sandboxMachine !== opts.thisMachine) {
    return `${what} on machine ${cleanText(opts.sandboxMachine, 64)}; enter it through the gateway on that machine`;
  }
  return null;
}

/** The VM-side address for a forward's destination, or null when it is not the VM's loopback. */
export function loopbackDestination(host: string): string | null {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  if (!LOOPBACK_NAMES.has(h)) return null;
  return h === "::1" || h === "ip6-localhost" ? "::1" : "127.0.0.1";
}

// ssh2 sends a userauth banner only once, at service accept; a refusal's reason is sent as one
// more SSH_MSG_USERAUTH_BANNER (RFC 4252 §5.4 allows it any time before success).
const requireFromHere = createRequire(import.meta.url);
let sendPacketFn: ((proto: unknown, packet: Buffer) => void) | null | undefined;
function sendBanner(ctx: AuthContext, text: string): void {
  try {
    sendPacketFn ??= (requireFromHere("ssh2/lib/protocol/utils.js") as { sendPacket?: (p: unknown, b: Buffer) => void }).sendPacket ?? null;
    const proto = (
      ctx as unknown as {
        _protocol?: { _packetRW: { write: { allocStart: number; alloc(n: number): Buffer; finalize(b: Buffer): Buffer } } };
      }
    )._protocol;
    if (!sendPacketFn || !proto) return;
    const msg = Buffer.from(`${text}\r\n`, "utf8");
    const rw = proto._packetRW.write;
    let p = rw.allocStart;
    const packet = rw.alloc(1 + 4 + msg.length + 4);
    packet[p] = 53; // SSH_MSG_USERAUTH_BANNER
    packet.writeUInt32BE(msg.length, ++p);
    msg.copy(packet, (p += 4));
    packet.writeUInt32BE(0, p + msg.length); // empty language tag
    sendPacketFn(proto, rw.finalize(packet));
  } catch {
    // Without the banner the person still sees "Permission denied"; the audit entry has the reason.
  }
}

/** Resolves when every channel has closed (both sides), or after `ms`. */
async function channelsClosed(streams: ServerChannel[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const closed = streams.map((s) => (s.destroyed ? null : new Promise<void>((r) => s.once("close", () => r()))));
  await Promise.race([Promise.all(closed), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

/**
 * Ends a connection with SSH_MSG_DISCONNECT carrying `text` (OpenSSH prints "Received disconnect …:
 * 11: <text>"): how a person learns why when no channel is open to write to. ssh2's own end() sends
 * an empty description. False when the packet could not be sent.
 */
function sendDisconnect(client: Connection, text: string): boolean {
  try {
    sendPacketFn ??= (requireFromHere("ssh2/lib/protocol/utils.js") as { sendPacket?: (p: unknown, b: Buffer) => void }).sendPacket ?? null;
    const proto = (
      client as unknown as {
        _protocol?: { _packetRW: { write: { allocStart: number; alloc(n: number): Buffer; finalize(b: Buffer): Buffer } } };
      }
    )._protocol;
    if (!sendPacketFn || !proto) return false;
    const msg = Buffer.from(text, "utf8");
    const rw = proto._packetRW.write;
    let p = rw.allocStart;
    const packet = rw.alloc(1 + 4 + 4 + msg.length + 4);
    packet[p] = 1; // SSH_MSG_DISCONNECT
    packet.writeUInt32BE(11, ++p); // SSH_DISCONNECT_BY_APPLICATION
    packet.writeUInt32BE(msg.length, (p += 4));
    msg.copy(packet, (p += 4));
    packet.writeUInt32BE(0, p + msg.length); // empty language tag
    sendPacketFn(proto, rw.finalize(packet));
    return true;
  } catch {
    return false;
  }
}

/** Failures per key (address or key fingerprint) within a sliding window. */
class FailureCounter {
  private readonly hits = new Map<string, number[]>();
  constructor(private readonly windowMs: number) {}
  count(key: string, now = Date.now()): number {
    const list = (this.hits.get(key) ?? []).filter((t) => now - t < this.windowMs);
    if (list.length === 0) this.hits.delete(key);
    else this.hits.set(key, list);
    return list.length;
  }
  add(key: string, now = Date.now()): void {
    const list = this.hits.get(key) ?? [];
    list.push(now);
    // Bounded: only the window matters.
    if (list.length > 1_000) list.splice(0, list.length - 1_000);
    this.hits.set(key, list);
    if (this.hits.size > 100_000) this.prune(now);
  }
  /** Seconds until the oldest failure leaves the window. */
  retryAfter(key: string, now = Date.now()): number {
    const first = this.hits.get(key)?.[0];
    return first === undefined ? 0 : Math.max(1, Math.ceil((first + this.windowMs - now) / 1000));
  }
  prune(now = Date.now()): void {
    for (const k of [...this.hits.keys()]) this.count(k, now);
  }
}

interface Person {
  userId: string;
  email: string;
  role: "admin" | "member";
  keyId: string;
  keyFingerprint: string;
}

interface GatewayConn {
  client: Connection;
  socket: net.Socket;
  ip: string;
  authenticated: boolean;
  person?: Person;
  sandboxId?: string;
  upstream?: SshConfig;
  /** A local sandbox (ext.local): sessions are processes on this machine. */
  local?: boolean;
  /** Their processes. */
  locals: Set<ChildProcess>;
  workspace?: string;
  sessionId?: string;
  /** The last unknown key's fingerprint (one banner per connection). */
  toldUnknownKey?: boolean;
  channels: number;
  upstreams: Set<ClientChannel>;
  /** Server-side channels that can take a closing message. */
  streams: Set<ServerChannel>;
  bytesIn: bigint;
  bytesOut: bigint;
  lastWritten: { bytesIn: bigint; bytesOut: bigint; kind: string };
  kind: string;
  exit: { code: number | null; signal: string | null };
  endReason?: string;
  ended: boolean;
  handshakeTimer?: NodeJS.Timeout;
}

export interface GatewayStats {
  connections: number;
  unauthenticated: number;
  sessions: number;
  handshakeTimeouts: number;
  refusedAtAccept: number;
  authFailures: number;
}

export class SshGateway {
  readonly instanceId: string;
  readonly fingerprint: string;
  private readonly db: Db;
  private readonly ssh: SshServices;
  private readonly log: Logger;
  private readonly limits: GatewayLimits;
  private readonly closePollMs: number;
  private readonly progressMs: number;
  private readonly server: InstanceType<typeof ssh2.Server>;
  private readonly tcp: net.Server;
  private readonly conns = new Set<GatewayConn>();
  private readonly failuresByAddress: FailureCounter;
  private readonly failuresByKey: FailureCounter;
  private readonly sessionsPerPerson = new Map<string, number>();
  private timers: NodeJS.Timeout[] = [];
  private closing = false;
  private stopping: Promise<void> | undefined;
  private listenAddress = "";
  private polling = false;
  private readonly counters = { handshakeTimeouts: 0, refusedAtAccept: 0, authFailures: 0 };

  constructor(private readonly opts: GatewayOptions) {
    this.db = opts.db;
    this.ssh = opts.ssh;
    this.log = opts.logger;
    this.limits = { ...DEFAULT_GATEWAY_LIMITS, ...opts.limits };
    this.closePollMs = opts.closePollMs ?? 1_000;
    this.progressMs = opts.progressMs ?? 5_000;
    this.instanceId = opts.instanceId ?? `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.fingerprint = opts.hostKey.fingerprint;
    this.failuresByAddress = new FailureCounter(this.limits.failureWindowMs);
    this.failuresByKey = new FailureCounter(this.limits.failureWindowMs);
    this.server = new ssh2.Server(
      { hostKeys: [opts.hostKey.privateKey], ident: "sand-boxer", algorithms: SSH2_ALGORITHMS },
      (client, info) => this.onConnection(client, info),
    );
    this.server.on("error", (err: Error) => this.log.warn({ err }, "ssh gateway server error"));
    this.tcp = net.createServer({ noDelay: true }, (socket) => this.onSocket(socket));
  }

  /** host:port it listens on (after start). */
  get address(): string {
    return this.listenAddress;
  }

  get port(): number {
    const a = this.tcp.address();
    return typeof a === "object" && a ? a.port : 0;
  }

  stats(): GatewayStats {
    let unauth = 0;
    let sessions = 0;
    for (const c of this.conns) {
      if (!c.authenticated) unauth++;
      else if (c.sessionId) sessions++;
    }
    return { connections: this.conns.size, unauthenticated: unauth, sessions, ...this.counters };
  }

  /**
   * Listens; a taken or invalid address is one GatewayError naming it (nothing half-started). Then
   * records this instance's fingerprint and warns loudly when another live instance has another.
   */
  async start(): Promise<{ mismatched: { instanceId: string; fingerprint: string; listen: string }[] }> {
    const { host, port } = this.opts.listen;
    const where = `${host.includes(":") ? `[${host}]` : host}:${port}`;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        this.tcp.off("listening", onListening);
        const why =
          err.code === "EADDRINUSE"
            ? "the port is already in use (another sand-boxer or sshd?)"
            : err.code === "EADDRNOTAVAIL"
              ? "that address is not on this machine"
              : err.code === "EACCES"
                ? "permission denied (ports below 1024 need privileges)"
                : err.message;
        reject(
          new GatewayError(`SSH gateway cannot listen on ${where}: ${why}. Set SANDBOXER_SSH_GATEWAY to a free host:port, or "off".`, {
            cause: err,
          }),
        );
      };
      const onListening = (): void => {
        this.tcp.off("error", onError);
        resolve();
      };
      this.tcp.once("error", onError);
      this.tcp.once("listening", onListening);
      // A deep accept queue: a burst of clients (or of bad ones) must not be dropped at SYN and retried for a minute.
      this.tcp.listen({ port, host, backlog: 4096 });
    });
    this.tcp.on("error", (err) => this.log.error({ err }, "ssh gateway listener error"));
    this.listenAddress = `${host.includes(":") ? `[${host}]` : host}:${this.port}`;
    const mismatched = await this.compareFingerprints();
    this.timers.push(setInterval(() => void this.pollCloseRequests(), this.closePollMs));
    this.timers.push(setInterval(() => void this.writeProgress(), this.progressMs));
    for (const t of this.timers) t.unref();
    this.log.info({ listen: this.listenAddress, fingerprint: this.fingerprint, instance: this.instanceId }, "ssh gateway listening");
    return { mismatched };
  }

  private async compareFingerprints(): Promise<{ instanceId: string; fingerprint: string; listen: string }[]> {
    try {
      const now = new Date();
      await gatewayHeartbeat(this.db, { instanceId: this.instanceId, fingerprint: this.fingerprint, listen: this.listenAddress }, now);
      await endSessionsOfDeadGateways(this.db, new Date(now.getTime() - 6 * this.progressMs - 30_000), now);
      const others = (await liveGateways(this.db, new Date(now.getTime() - 6 * this.progressMs - 30_000))).filter(
        (g) => g.instanceId !== this.instanceId && g.fingerprint !== this.fingerprint,
      );
      for (const g of others) {
        this.log.error(
          { other: g.instanceId, otherFingerprint: g.fingerprint, fingerprint: this.fingerprint },
          `SSH GATEWAY HOST KEYS DIFFER: this instance presents ${this.fingerprint}, instance ${g.instanceId} (${g.listen}) presents ` +
            `${g.fingerprint}. People behind one address will see "REMOTE HOST IDENTIFICATION HAS CHANGED". ` +
            `Give every instance the same key file with SANDBOXER_SSH_GATEWAY_HOST_KEY.`,
        );
      }
      return others.map((g) => ({ instanceId: g.instanceId, fingerprint: g.fingerprint, listen: g.listen }));
    } catch (err) {
      this.log.warn({ err }, "ssh gateway could not compare its host key with other instances");
      return [];
    }
  }

  /** Stops listening and ends every connection (sessions are recorded as ended). */
  stop(reason = "the sand-boxer server is stopping"): Promise<void> {
    this.stopping ??= this.stopNow(reason);
    return this.stopping;
  }

  private async stopNow(reason: string): Promise<void> {
    this.closing = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    const atStop = this.stats();
    await new Promise<void>((r) => this.tcp.close(() => r()));
    await Promise.all([...this.conns].map((c) => this.endConnection(c, reason)));
    killHungUp();
    await removeGateway(this.db, this.instanceId).catch(() => {});
    this.log.info({ ...atStop, instance: this.instanceId }, "ssh gateway stopped");
  }

  /** Ends a session held by this instance (admins elsewhere write a close request instead). */
  async endSession(sessionId: string, message: string): Promise<boolean> {
    const c = [...this.conns].find((x) => x.sessionId === sessionId);
    if (!c) return false;
    await this.endConnection(c, message);
    return true;
  }

  // ─── Connections ───────────────────────────────────────────────────────────────────────────

  private onSocket(socket: net.Socket): void {
    let unauth = 0;
    for (const c of this.conns) if (!c.authenticated) unauth++;
    if (this.closing || unauth >= this.limits.maxUnauthenticated) {
      this.counters.refusedAtAccept++;
      socket.destroy();
      return;
    }
    socket.on("error", () => {});
    // The connection's state exists from accept on, so the handshake timer covers a silent client.
    const conn: GatewayConn = {
      client: undefined as unknown as Connection,
      socket,
      ip: socket.remoteAddress ?? "unknown",
      authenticated: false,
      channels: 0,
      upstreams: new Set(),
      locals: new Set(),
      streams: new Set(),
      bytesIn: 0n,
      bytesOut: 0n,
      lastWritten: { bytesIn: 0n, bytesOut: 0n, kind: "none" },
      kind: "none",
      exit: { code: null, signal: null },
      ended: false,
    };
    this.conns.add(conn);
    conn.handshakeTimer = setTimeout(() => {
      if (conn.authenticated) return;
      this.counters.handshakeTimeouts++;
      socket.destroy();
    }, this.limits.handshakeTimeoutMs);
    conn.handshakeTimer.unref();
    socket.once("close", () => {
      clearTimeout(conn.handshakeTimer);
      void this.finishConnection(conn, conn.endReason ?? "the client disconnected");
    });
    pendingSockets.set(socket, conn);
    this.server.injectSocket(socket);
  }

  private onConnection(client: Connection, info: { ip: string }): void {
    const socket = (client as unknown as { _sock: net.Socket })._sock;
    const conn = pendingSockets.get(socket);
    pendingSockets.delete(socket);
    if (!conn) {
      client.end();
      return;
    }
    conn.client = client;
    conn.ip = info.ip || conn.ip;
    client.on("error", () => {
      // Protocol errors end the socket; finishConnection records it.
    });
    client.on("authentication", (ctx) => {
      this.authenticate(conn, ctx).catch((err: unknown) => {
        this.log.error({ err }, "ssh gateway authentication failed unexpectedly");
        ctx.reject(["publickey"]);
      });
    });
    client.on("ready", () => void this.onReady(conn));
    client.on("session", (accept, reject) => this.onSession(conn, accept, reject));
    client.on("tcpip", (accept, reject, info) => void this.onDirectTcpip(conn, accept, reject, info));
    client.on("request", (accept, reject, name) => {
      // -R (tcpip-forward), streamlocal forwarding and any other global request.
      this.log.info({ ip: conn.ip, request: name, sandbox: conn.sandboxId }, "ssh gateway refused a global request");
      reject?.();
    });
    client.on("openssh.streamlocal", (_accept, reject) => reject());
  }

  private async authenticate(conn: GatewayConn, ctx: AuthContext): Promise<void> {
    const ip = conn.ip;
    if (this.failuresByAddress.count(ip) >= this.limits.maxFailuresPerAddress) {
      sendBanner(ctx, `sand-boxer: too many failed attempts from ${ip}; try again in ${this.failuresByAddress.retryAfter(ip)} s`);
      ctx.reject([]);
      conn.socket.destroy();
      return;
    }
    if (ctx.method !== "publickey") {
      ctx.reject(["publickey"]);
      return;
    }
    const fingerprint = sha256Fingerprint(ctx.key.data);
    if (this.failuresByKey.count(fingerprint) >= this.limits.maxFailuresPerKey) {
      sendBanner(
        ctx,
        `sand-boxer: too many failed attempts with key ${fingerprint}; try again in ${this.failuresByKey.retryAfter(fingerprint)} s`,
      );
      ctx.reject(["publickey"]);
      return;
    }
    const key = await findSshKeyWithUser(this.db, fingerprint);
    if (!key) {
      this.fail(ip, fingerprint);
      if (!conn.toldUnknownKey) {
        conn.toldUnknownKey = true;
        sendBanner(
          ctx,
          `sand-boxer: key ${fingerprint} is not registered; add it under SSH keys in the dashboard or with \`sandboxer keys add\``,
        );
        await audit(
          { db: this.db, logger: this.log },
          {
            actor: { kind: "anonymous", label: `ssh key ${fingerprint}`, ip },
            action: "sandbox.ssh",
            target: isSandboxId(ctx.username) ? ctx.username : cleanText(ctx.username, 64),
            result: "denied",
            message: `SSH gateway: unknown key ${fingerprint} from ${ip}`,
          },
        );
      }
      ctx.reject(["publickey"]);
      return;
    }
    if (ctx.key.algo !== key.type && !(key.type === "ssh-rsa" && ctx.key.algo.startsWith("rsa-sha2-"))) {
      // The blob matched; an algorithm that does not is a confused or hostile client.
      this.fail(ip, fingerprint);
      ctx.reject(["publickey"]);
      return;
    }
    if (!ctx.signature) {
      // The client asks whether this key would do (it has not signed yet): yes, it is registered.
      ctx.accept();
      return;
    }
    const parsed = ssh2.utils.parseKey(ctx.key.data);
    const verifier = Array.isArray(parsed) ? parsed[0] : parsed;
    if (
      verifier instanceof Error ||
      !verifier ||
      ctx.blob === undefined ||
      verifier.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true
    ) {
      this.fail(ip, fingerprint);
      ctx.reject(["publickey"]);
      return;
    }
    const role = key.user.role === "admin" ? "admin" : "member";
    const actor: Actor = { kind: "user", userId: key.user.id, label: key.user.email, role, ip };
    const refusal = await this.admission(conn, ctx.username, actor);
    if (refusal) {
      this.fail(ip, fingerprint);
      sendBanner(ctx, `sand-boxer: ${refusal}`);
      await audit(
        { db: this.db, logger: this.log },
        {
          actor,
          action: "sandbox.ssh",
          target: isSandboxId(ctx.username) ? ctx.username : cleanText(ctx.username, 64),
          result: "denied",
          message: `SSH gateway refused ${key.user.email} from ${ip}: ${refusal}`,
          data: { key: fingerprint },
        },
      );
      ctx.reject(["publickey"]);
      return;
    }
    conn.person = { userId: key.user.id, email: key.user.email, role, keyId: key.id, keyFingerprint: fingerprint };
    ctx.accept();
  }

  private fail(ip: string, fingerprint: string): void {
    this.counters.authFailures++;
    this.failuresByAddress.add(ip);
    this.failuresByKey.add(fingerprint);
  }

  /** Why this person may not enter this sandbox now, or null (and the connection is bound to it). */
  private async admission(conn: GatewayConn, username: string, actor: Actor & { kind: "user" }): Promise<string | null> {
    if (!isSandboxId(username)) return `"${cleanText(username, 64)}" is not a sandbox id; connect as <sandbox-id>@<gateway>`;
    const sandbox = await findSandboxRow(this.db, username);
    if (!sandbox) return `sandbox ${username} does not exist`;
    if (!can(actor, "sandbox.enter", sandbox)) return `sandbox ${username} belongs to someone else; only its owner and admins may enter it`;
    if (sandbox.status !== "ready") return `sandbox ${username} is ${sandbox.status}; only a ready sandbox can be entered`;
    const machineLocal = (this.opts.localExtensions ?? DEFAULT_LOCAL_EXTENSIONS).includes(sandbox.extensionId);
    const handle = machineLocal ? null : remoteHandle.safeParse(sandbox.handle);
    const local = machineLocal ? localHandleSchema.safeParse(sandbox.handle) : null;
    if (local && !local.success) return `sandbox ${username} (${sandbox.extensionId}) has no workspace the gateway can enter`;
    if (local) {
      const refusal = localAdmission({
        sandboxId: sandbox.id,
        role: actor.role === "admin" ? "admin" : "member",
        listenHost: this.opts.listen.host,
        sandboxMachine: sandbox.machineId,
        thisMachine: this.opts.machineId,
      });
      if (refusal) return refusal;
    }
    const open = this.sessionsPerPerson.get(actor.userId) ?? 0;
    if (open >= this.limits.maxSessionsPerPerson) {
      return `you already have ${open} open sessions on this gateway (the limit is ${this.limits.maxSessionsPerPerson}); close one first`;
    }
    if (local?.success) {
      try {
        conn.workspace = localWorkspace(local.data, sandbox.id);
      } catch (e) {
        return `sandbox ${username} cannot be entered: ${cleanText((e as Error).message)}`;
      }
      conn.local = true;
      conn.sandboxId = sandbox.id;
      return null;
    }
    if (!handle?.success) return `sandbox ${username} (${sandbox.extensionId}) has no SSH endpoint: it is not on a build VM`;
    try {
      conn.workspace = guardedWorkspacePath(handle.data, sandbox.id);
      conn.upstream = await sshConfigFor(this.ssh, handle.data);
    } catch (e) {
      return `sandbox ${username} cannot be reached: ${cleanText((e as Error).message)}`;
    }
    conn.sandboxId = sandbox.id;
    return null;
  }

  private async onReady(conn: GatewayConn): Promise<void> {
    if (!conn.person || !conn.sandboxId) {
      conn.client.end();
      return;
    }
    conn.authenticated = true;
    clearTimeout(conn.handshakeTimer);
    const person = conn.person;
    this.sessionsPerPerson.set(person.userId, (this.sessionsPerPerson.get(person.userId) ?? 0) + 1);
    const id = newSessionId();
    try {
      await insertSshSession(this.db, {
        id,
        sandboxId: conn.sandboxId,
        userId: person.userId,
        userLabel: person.email,
        keyFingerprint: person.keyFingerprint,
        sourceIp: conn.ip,
        instanceId: this.instanceId,
      });
      conn.sessionId = id;
    } catch (err) {
      this.log.error({ err, sandbox: conn.sandboxId }, "ssh gateway could not record a session; closing it");
      conn.client.end();
      return;
    }
    if (conn.ended) {
      // The client went away while the row was written.
      await this.finishConnection(conn, conn.endReason ?? "the client disconnected", true);
      return;
    }
    void touchSshKey(this.db, person.keyId).catch(() => {});
    this.log.info({ session: id, sandbox: conn.sandboxId, user: person.email, ip: conn.ip }, "ssh gateway session started");
  }

  // ─── Channels ──────────────────────────────────────────────────────────────────────────────

  private takeChannel(conn: GatewayConn): boolean {
    if (!conn.authenticated || (!conn.upstream && !conn.local) || conn.channels >= this.limits.maxChannelsPerConnection) return false;
    conn.channels++;
    return true;
  }

  private onSession(conn: GatewayConn, accept: () => Session, reject: () => void): void {
    if (!this.takeChannel(conn)) return reject();
    const session = accept();
    let pty: PtyRequest | undefined;
    const env: Record<string, string> = {};
    let upstream: ClientChannel | undefined;
    let local: LocalRelay | undefined;
    let started = false;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      conn.channels--;
    };
    session.on("close", release);
    session.on("pty", (acc, _rej, info) => {
      pty = {
        term: cleanText(info.term || "xterm", 64),
        rows: info.rows,
        cols: info.cols,
        width: info.width,
        height: info.height,
        modes: info.modes as Record<string, number | undefined>,
      };
      acc?.();
    });
    session.on("window-change", (acc, _rej, info) => {
      if (pty) Object.assign(pty, { rows: info.rows, cols: info.cols, width: info.width, height: info.height });
      upstream?.setWindow(info.rows, info.cols, info.height, info.width);
      local?.resize(info.rows, info.cols);
      acc?.();
    });
    session.on("env", (acc, rej, info) => {
      if (envAllowed(info.key) && Object.keys(env).length < 32) {
        env[info.key] = cleanText(info.val, 256);
        acc?.();
      } else rej?.();
    });
    session.on("signal", (acc, _rej, info) => {
      if (/^[A-Z0-9]{1,16}$/.test(info.name)) {
        upstream?.signal(info.name);
        if (local && `SIG${info.name}` in os.constants.signals) signalLocalSession(local.child, `SIG${info.name}` as NodeJS.Signals);
      }
      acc?.();
    });
    session.on("auth-agent", (_acc, rej) => rej?.());
    session.on("x11", (_acc, rej) => rej?.());
    const start = (kind: string, request: ChannelRequest, accept: () => ServerChannel, reject: (() => void) | undefined): void => {
      if (started) return reject?.();
      started = true;
      const stream = accept();
      conn.kind = kind;
      void this.relaySession(conn, stream, request).then(
        (ch) => (upstream = ch),
        () => {},
      );
    };
    const startLocal = (
      kind: LocalSessionSpec["kind"],
      command: string | null,
      accept: () => ServerChannel,
      reject: (() => void) | undefined,
    ): void => {
      if (started) return reject?.();
      if (kind === "sftp" && !sftpServerPath()) return reject?.();
      started = true;
      const stream = accept();
      conn.kind = kind;
      local = this.relayLocal(conn, stream, {
        workspace: conn.workspace!,
        kind,
        command,
        ...(pty && kind !== "sftp" ? { pty: { term: pty.term, rows: pty.rows, cols: pty.cols } } : {}),
        env,
      });
    };
    session.on("shell", (acc, rej) => {
      if (conn.local) return startLocal("shell", null, acc, rej);
      start("shell", { type: "session", command: this.startIn(conn, null, env), ...(pty ? { pty } : {}) }, acc, rej);
    });
    session.on("exec", (acc, rej, info) => {
      if (conn.local) return startLocal("exec", info.command, acc, rej);
      start("exec", { type: "session", command: this.startIn(conn, info.command, env), ...(pty ? { pty } : {}) }, acc, rej);
    });
    session.on("subsystem", (acc, rej, info) => {
      if (info.name !== "sftp") return rej?.();
      if (conn.local) return startLocal("sftp", null, acc, rej);
      start("sftp", { type: "subsystem", name: "sftp" }, acc, rej);
    });
  }

  /**
   * The command that runs a person's command (or a login shell) in the workspace: the person's text
   * goes to the remote shell as one quoted argument, as OpenSSH would hand it to `$SHELL -c`.
   */
  private startIn(conn: GatewayConn, command: string | null, env: Record<string, string>): string {
    const ws = conn.workspace!;
    // The accepted variables go in through `env` on the command line: the VM's sshd need not AcceptEnv them.
    const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`);
    const prefix = vars.length > 0 ? ["env", ...vars] : [];
    return command === null
      ? shellCommand([...prefix, "sh", "-c", 'cd -- "$1" || exit 1; exec "${SHELL:-/bin/sh}" -l', "sh", ws])
      : shellCommand([...prefix, "sh", "-c", 'cd -- "$1" || exit 1; exec "${SHELL:-/bin/sh}" -c "$2"', "sh", ws, command]);
  }

  /** Opens the VM-side channel and relays both ways; a failure is one line on stderr and exit 255. */
  private async relaySession(conn: GatewayConn, stream: ServerChannel, request: ChannelRequest): Promise<ClientChannel> {
    conn.streams.add(stream);
    stream.on("error", () => {});
    let up: ClientChannel;
    try {
      up = await this.ssh.pool.openChannel(conn.upstream!, request);
    } catch (e) {
      const msg = cleanText((e as Error).message, 400);
      this.log.warn({ err: e, sandbox: conn.sandboxId, session: conn.sessionId }, "ssh gateway could not reach the sandbox");
      stream.stderr.write(`sand-boxer: cannot reach sandbox ${conn.sandboxId}: ${msg}\r\n`);
      stream.exit(255);
      stream.end();
      conn.streams.delete(stream);
      throw e;
    }
    if (stream.destroyed || conn.ended) {
      up.close();
      throw new Error("client gone");
    }
    conn.upstreams.add(up);
    up.on("data", (d: Buffer) => (conn.bytesOut += BigInt(d.length)));
    up.stderr.on("data", (d: Buffer) => (conn.bytesOut += BigInt(d.length)));
    stream.on("data", (d: Buffer) => (conn.bytesIn += BigInt(d.length)));
    up.pipe(stream, { end: false });
    up.stderr.pipe(stream.stderr, { end: false });
    stream.pipe(up);
    stream.on("close", () => up.close());
    up.on("close", () => {
      conn.upstreams.delete(up);
      conn.streams.delete(stream);
      const exit = exitOf(up);
      if (exit) conn.exit = exit;
      if (!stream.destroyed) {
        if (exit?.signal) stream.exit(exit.signal, false, "");
        else if (exit) stream.exit(exit.code ?? 255);
        stream.end();
      }
    });
    return up;
  }

  /** Runs a local sandbox's session as a process here and relays both ways; exit status and signal go back. */
  private relayLocal(conn: GatewayConn, stream: ServerChannel, spec: LocalSessionSpec): LocalRelay | undefined {
    conn.streams.add(stream);
    stream.on("error", () => {});
    let child: ChildProcess;
    try {
      child = startLocalSession(spec);
    } catch (e) {
      stream.stderr.write(`sand-boxer: cannot start a session in ${conn.sandboxId}: ${cleanText((e as Error).message, 300)}\r\n`);
      stream.exit(255);
      stream.end();
      conn.streams.delete(stream);
      return undefined;
    }
    conn.locals.add(child);
    let failed: string | null = null;
    child.on("error", (err) => {
      failed = err.message;
      this.log.warn({ err, sandbox: conn.sandboxId, session: conn.sessionId }, "ssh gateway could not start a local session");
    });
    child.stdin!.on("error", () => {});
    child.stdout!.on("data", (d: Buffer) => (conn.bytesOut += BigInt(d.length)));
    child.stderr!.on("data", (d: Buffer) => (conn.bytesOut += BigInt(d.length)));
    child.stdout!.pipe(stream, { end: false });
    child.stderr!.pipe(stream.stderr, { end: false });
    // Input waits while a window change is applied (it came after the change, as over a real pty)
    // and while the process's stdin is full.
    let holds = 0;
    let full = false;
    const resume = (): void => {
      if (holds === 0 && !full) stream.resume();
    };
    stream.on("data", (d: Buffer) => {
      conn.bytesIn += BigInt(d.length);
      if (!child.stdin!.write(d)) {
        full = true;
        stream.pause();
        child.stdin!.once("drain", () => {
          full = false;
          resume();
        });
      }
    });
    stream.on("end", () => child.stdin!.end());
    stream.on("close", () => endLocal(child));
    child.on("close", (code, signal) => {
      conn.locals.delete(child);
      conn.streams.delete(stream);
      conn.exit = signal ? { code: null, signal: signal.replace(/^SIG/, "") } : { code: code ?? 255, signal: null };
      if (stream.destroyed) return;
      if (failed) stream.stderr.write(`sand-boxer: cannot start a session in ${conn.sandboxId}: ${cleanText(failed, 300)}\r\n`);
      if (signal) stream.exit(signal.replace(/^SIG/, ""), false, "");
      else stream.exit(code ?? 255);
      stream.end();
    });
    return {
      child,
      resize: (rows, cols) => {
        holds++;
        stream.pause();
        void resizeLocalSession(child, rows, cols).finally(() => {
          holds--;
          resume();
        });
      },
    };
  }

  private async onDirectTcpip(
    conn: GatewayConn,
    accept: () => ServerChannel,
    reject: () => void,
    info: { destIP: string; destPort: number; srcIP: string; srcPort: number },
  ): Promise<void> {
    if (conn.local) {
      this.log.info({ sandbox: conn.sandboxId, ip: conn.ip }, "ssh gateway refused a forward into a local sandbox");
      return reject();
    }
    const dst = loopbackDestination(info.destIP);
    if (!dst) {
      this.log.info(
        { sandbox: conn.sandboxId, dest: cleanText(info.destIP, 80), ip: conn.ip },
        "ssh gateway refused a forward off the VM's loopback",
      );
      return reject();
    }
    if (!this.takeChannel(conn)) return reject();
    let up: ClientChannel;
    try {
      up = await this.ssh.pool.openChannel(conn.upstream!, {
        type: "direct-tcpip",
        srcHost: "127.0.0.1",
        srcPort: info.srcPort > 0 && info.srcPort < 65536 ? info.srcPort : 1,
        dstHost: dst,
        dstPort: info.destPort,
      });
    } catch (e) {
      conn.channels--;
      this.log.info({ sandbox: conn.sandboxId, err: e }, "ssh gateway forward failed on the VM");
      return reject();
    }
    if (conn.ended) {
      conn.channels--;
      up.close();
      return reject();
    }
    conn.kind = conn.kind === "none" ? "forward" : conn.kind;
    const stream = accept();
    stream.on("error", () => {});
    conn.upstreams.add(up);
    up.on("data", (d: Buffer) => (conn.bytesOut += BigInt(d.length)));
    stream.on("data", (d: Buffer) => (conn.bytesIn += BigInt(d.length)));
    up.pipe(stream);
    stream.pipe(up);
    let released = false;
    const done = (): void => {
      if (released) return;
      released = true;
      conn.channels--;
      conn.upstreams.delete(up);
      up.close();
      stream.close();
    };
    up.on("close", done);
    stream.on("close", done);
  }

  // ─── Ending ────────────────────────────────────────────────────────────────────────────────

  /** Tells the person why (on every open session channel's stderr), then closes the connection. */
  private async endConnection(conn: GatewayConn, message: string): Promise<void> {
    if (conn.ended) return;
    conn.endReason = message;
    const streams = [...conn.streams];
    for (const s of streams) {
      try {
        s.stderr.write(`\r\nsand-boxer: ${cleanText(message, 300)}\r\n`);
        s.exit(255);
        s.end();
      } catch {
        // Already closing.
      }
    }
    const told = streams.length > 0;
    for (const up of conn.upstreams) up.close();
    for (const child of conn.locals) endLocal(child);
    // Give the message and the output before it time to leave: until the client has closed the
    // channels (it has read what they carried by then), at most 1 s. OpenSSH can exit on a disconnect
    // before writing out what it still holds (read, not verified here), so one sent with the channels'
    // last data could lose it.
    await channelsClosed(streams, 1_000);
    try {
      // No channel to write to (authenticated, nothing started yet): the reason goes in the disconnect.
      if (told || !conn.client || !sendDisconnect(conn.client, `sand-boxer: ${cleanText(message, 300)}`)) conn.client?.end();
    } catch {
      // Gone.
    }
    setTimeout(() => conn.socket.destroy(), 1_000).unref();
    await this.finishConnection(conn, message);
  }

  /** Records the end once (session row, per-person count) and forgets the connection. */
  private async finishConnection(conn: GatewayConn, reason: string, force = false): Promise<void> {
    if (conn.ended && !force) return;
    conn.ended = true;
    this.conns.delete(conn);
    for (const up of conn.upstreams) up.close();
    for (const child of conn.locals) endLocal(child);
    if (!conn.sessionId || !conn.sandboxId || !conn.person) return;
    const n = (this.sessionsPerPerson.get(conn.person.userId) ?? 1) - 1;
    if (n <= 0) this.sessionsPerPerson.delete(conn.person.userId);
    else this.sessionsPerPerson.set(conn.person.userId, n);
    const sessionId = conn.sessionId;
    conn.sessionId = undefined;
    try {
      await endSshSession(this.db, sessionId, conn.sandboxId, {
        bytesIn: conn.bytesIn,
        bytesOut: conn.bytesOut,
        kind: conn.kind,
        exitCode: conn.exit.code,
        exitSignal: conn.exit.signal,
        endReason: cleanText(conn.endReason ?? reason, 300),
      });
    } catch (err) {
      this.log.error({ err, session: sessionId }, "ssh gateway could not record the end of a session");
    }
    this.log.info(
      { session: sessionId, sandbox: conn.sandboxId, bytesIn: String(conn.bytesIn), bytesOut: String(conn.bytesOut), exit: conn.exit },
      "ssh gateway session ended",
    );
  }

  private async pollCloseRequests(): Promise<void> {
    if (this.polling || this.closing) return;
    if (![...this.conns].some((c) => c.sessionId)) return;
    this.polling = true;
    try {
      const requests = await sshSessionCloseRequests(this.db, this.instanceId);
      for (const r of requests) {
        const c = [...this.conns].find((x) => x.sessionId === r.id);
        if (c) await this.endConnection(c, r.closeRequestedBy ?? "this session was ended by an admin");
      }
    } catch (err) {
      this.log.warn({ err }, "ssh gateway could not read close requests");
    } finally {
      this.polling = false;
    }
  }

  private async writeProgress(): Promise<void> {
    if (this.closing) return;
    try {
      await gatewayHeartbeat(this.db, { instanceId: this.instanceId, fingerprint: this.fingerprint, listen: this.listenAddress });
      for (const c of this.conns) {
        if (!c.sessionId || !c.sandboxId) continue;
        const w = c.lastWritten;
        if (w.bytesIn === c.bytesIn && w.bytesOut === c.bytesOut && w.kind === c.kind) continue;
        c.lastWritten = { bytesIn: c.bytesIn, bytesOut: c.bytesOut, kind: c.kind };
        await updateSshSession(this.db, c.sessionId, c.sandboxId, c.lastWritten);
      }
      this.failuresByAddress.prune();
      this.failuresByKey.prune();
    } catch (err) {
      this.log.warn({ err }, "ssh gateway could not write session progress");
    }
  }
}

const pendingSockets = new WeakMap<net.Socket, GatewayConn>();

interface LocalRelay {
  child: ChildProcess;
  resize(rows: number, cols: number): void;
}

/** Local sessions hung up and not yet killed: what a stopping gateway kills before its process exits. */
const hungUp = new Set<ChildProcess>();

/**
 * Hangs up a local session's process group; what is still there 2 s later is killed. Also once the
 * session's first process has exited: what it started in the background (`sleep 3600 &`, with SIGHUP
 * ignored) is in the same group and must not outlive the session.
 */
function endLocal(child: ChildProcess): void {
  if (hungUp.has(child)) return;
  hungUp.add(child);
  signalLocalSession(child, "SIGHUP");
  setTimeout(() => {
    hungUp.delete(child);
    signalLocalSession(child, "SIGKILL");
  }, 2_000).unref();
}

/** Kills what was hung up and is not dead yet (the 2 s timers do not hold a stopping process open). */
function killHungUp(): void {
  for (const child of hungUp) signalLocalSession(child, "SIGKILL");
  hungUp.clear();
}

/**
 * A local sandbox's directory, recomputed from its handle and checked as the extension checks it
 * before a removal: exactly `<root>/sbx-<id>`, an existing directory, not through a symlink.
 */
function localWorkspace(handle: { workspace_root: string; workspace_path: string }, sandboxId: string): string {
  const root = handle.workspace_root;
  if (!path.isAbsolute(root) || path.normalize(root) !== root || root === "/" || root.endsWith("/")) {
    throw new Error(`its workspace root ${JSON.stringify(root)} is not a plain absolute path`);
  }
  const expected = path.join(root, workspaceName(sandboxId));
  if (handle.workspace_path !== expected) throw new Error(`its handle names ${handle.workspace_path}, not ${expected}`);
  const st = fs.lstatSync(expected, { throwIfNoEntry: false });
  if (!st?.isDirectory()) throw new Error(`${expected} is not a directory`);
  if (fs.realpathSync(expected) !== path.join(fs.realpathSync(root), workspaceName(sandboxId))) {
    throw new Error(`${expected} is not directly under ${root}`);
  }
  return expected;
}

/** For audit entries that name the gateway itself. */
export const GATEWAY_ACTOR: AuditActor = { kind: "system", label: "system (ssh gateway)" };
