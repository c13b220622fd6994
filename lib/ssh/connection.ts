// One SSH connection on ssh2: how it is reached (TCP_NODELAY socket, ready timeout, keepalives, host
// key checked against a pin or known_hosts and never auto-accepted) and how a command runs on it
// (quoted argv, exit code from the channel, bounded output, timeout and abort that signal the remote
// process). The target's description lives in ssh-config.ts, credentials in ssh-auth.ts, and what a
// failed connect means in connect-errors.ts. Everything that can go wrong becomes an SshError naming
// host:port; most callers want SshPool (pool.ts) rather than this directly.
import "server-only";

import net from "node:net";

import ssh2 from "ssh2";
import type { ClientChannel, ConnectConfig } from "ssh2";

import { AbortedError, ValidationError, hasCode, throwIfAborted } from "@/lib/errors";

import { SSH2_ALGORITHMS } from "./algorithms";
import { mapConnectError, type ErrnoLike } from "./connect-errors";
import { SshError, hostPort, lastLines } from "./errors";
import { fingerprintOfKey, hostKeyError, verifyHostKey } from "./host-keys";
import { shellCommand } from "./shell-quote";
import { loadAuth, loadKnownHosts } from "./ssh-auth";
import {
  DEFAULT_KEEPALIVE_COUNT_MAX,
  DEFAULT_KEEPALIVE_INTERVAL_MS,
  DEFAULT_READY_TIMEOUT_MS,
  describeTarget,
  parseSshConfig,
  type ResolvedSshConfig,
  type SshConfig,
} from "./ssh-config";

const { Client } = ssh2;

/** Output kept per stream: the tail is what explains a failure, and a chatty command must not exhaust memory. */
export const DEFAULT_MAX_BUFFER_BYTES = 1024 * 1024;
/** How long a timed-out or aborted command gets after SIGTERM before SIGKILL and a forced close. */
export const DEFAULT_KILL_GRACE_MS = 1_500;

export interface ConnectOptions {
  signal?: AbortSignal;
  /** TCP connect + banner + key exchange + authentication must finish within this. */
  readyTimeoutMs?: number;
}

export interface ExecOptions {
  /** Required: no remote command runs without a limit. */
  timeoutMs: number;
  signal?: AbortSignal;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /** Written to the command's stdin, which is then closed (stdin is always closed so readers see EOF). */
  stdin?: string | Buffer;
  /** Per stream; older output is dropped and `stdoutTruncated`/`stderrTruncated` set. */
  maxBufferBytes?: number;
  killGraceMs?: number;
  /**
   * How long the server may take to open the command's session channel and answer its exec request
   * (capped by `timeoutMs`). A connection that is still up but opens no channel is wedged (keepalives
   * take 45 s to give up on it, or never do when the server still answers them); without this the
   * command would wait out all of `timeoutMs`. Default
   * {@link DEFAULT_CHANNEL_OPEN_TIMEOUT_MS}.
   */
  openTimeoutMs?: number;
  /**
   * The command may run twice (it checks before it acts: the remote-workspace scripts). A command
   * whose start is unknown — its channel open or exec request went unanswered — is then retried by
   * the pool on another connection; otherwise it is reported and never run again.
   */
  idempotent?: boolean;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit status; null when the process was killed by a signal. */
  code: number | null;
  /** Signal name without `SIG` (e.g. "TERM") when the process was killed by one. */
  signal: string | null;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  durationMs: number;
}

/** How long a channel open (and its pty/exec/subsystem requests) may take. */
export const DEFAULT_CHANNEL_OPEN_TIMEOUT_MS = 20_000;

/** A pseudo-terminal as a client asked for it (ssh2's server `pty` event has the same fields). */
export interface PtyRequest {
  term: string;
  rows: number;
  cols: number;
  /** Pixels; 0 when unknown. */
  width?: number;
  height?: number;
  /** Terminal modes by name, as ssh2 parses them from the client's request. */
  modes?: Record<string, number | undefined> | null;
}

/** What a channel opened by {@link SshConnection.openChannel} is for. */
export type ChannelRequest =
  /** A session: `command` runs as given (it is the remote shell's input, already quoted by whoever built it); without it, a login shell. */
  | { type: "session"; command?: string; pty?: PtyRequest; env?: Record<string, string> }
  /** A subsystem of the server, e.g. `sftp`. */
  | { type: "subsystem"; name: string }
  /** A TCP connection made by the server to dstHost:dstPort (ssh -L); src* is reported to the server as the originator. */
  | { type: "direct-tcpip"; srcHost: string; srcPort: number; dstHost: string; dstPort: number };

export interface OpenChannelOptions {
  signal?: AbortSignal;
  /** Channel open plus its requests must finish within this. Default {@link DEFAULT_CHANNEL_OPEN_TIMEOUT_MS}. */
  timeoutMs?: number;
}

function describeRequest(request: ChannelRequest): string {
  switch (request.type) {
    case "session":
      return request.command === undefined ? "a shell" : request.pty ? "a command under a pty" : "a command";
    case "subsystem":
      return `the ${request.name} subsystem`;
    case "direct-tcpip":
      return `a forwarded connection to ${hostPort(request.dstHost, request.dstPort)}`;
  }
}

function ptyConfig(pty: PtyRequest): {
  rows: number;
  cols: number;
  width: number;
  height: number;
  term: string;
  modes?: Record<string, number>;
} {
  const modes: Record<string, number> = {};
  for (const [k, v] of Object.entries(pty.modes ?? {})) if (typeof v === "number") modes[k] = v;
  return { rows: pty.rows, cols: pty.cols, width: pty.width ?? 0, height: pty.height ?? 0, term: pty.term, modes };
}

// RFC 4254 §5.1 reason codes.
const OPEN_ADMINISTRATIVELY_PROHIBITED = 1;
const OPEN_CONNECT_FAILED = 2;

function channelOpenError(request: ChannelRequest, where: string, what: string, err: ErrnoLike | undefined): SshError {
  const reason = err?.reason;
  const message = err?.message ?? "no channel";
  if (request.type === "direct-tcpip" && typeof reason === "number") {
    const target = hostPort(request.dstHost, request.dstPort);
    const why =
      reason === OPEN_CONNECT_FAILED
        ? `nothing accepts connections on ${target} there (${message})`
        : reason === OPEN_ADMINISTRATIVELY_PROHIBITED
          ? `its sshd forbids forwarding (AllowTcpForwarding) or the address (${message})`
          : message;
    return new SshError("SSH_FORWARD_FAILED", `${where} refused to forward to ${target}: ${why}`, {
      cause: err,
      details: { started: false, reason, target },
    });
  }
  if (typeof reason === "number") {
    return new SshError(
      "SSH_CHANNEL_OPEN_FAILED",
      `${where} refused to open a session channel (${message}); its MaxSessions may be reached`,
      {
        cause: err,
        details: { started: false, reason },
      },
    );
  }
  // The channel opened, but a request on it (pty, exec, shell, subsystem) was refused.
  return new SshError("SSH_CHANNEL_REQUEST_FAILED", `${where} refused ${what}: ${message}`, { cause: err, details: { started: false } });
}

/** How a channel's command ended: its exit status, or the signal (without `SIG`) that killed it. */
export interface ChannelExit {
  code: number | null;
  signal: string | null;
}

const exits = new WeakMap<ClientChannel, ChannelExit>();

/**
 * The exit status of a channel opened by openChannel, once the server sent it (read it on `close`).
 * Listening for `exit` yourself can miss it: it may arrive before the open promise resolves.
 */
export function exitOf(channel: ClientChannel): ChannelExit | undefined {
  return exits.get(channel);
}

type SshClient = InstanceType<typeof Client>;

/** Keeps the last `max` bytes of a stream. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly max: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.max && this.chunks.length > 0) {
      const head = this.chunks[0]!;
      const excess = this.size - this.max;
      this.truncated = true;
      if (head.length <= excess) {
        this.chunks.shift();
        this.size -= head.length;
      } else {
        this.chunks[0] = head.subarray(excess);
        this.size -= excess;
      }
    }
  }

  toString(): string {
    return Buffer.concat(this.chunks, this.size).toString("utf8");
  }
}

// ssh2's Channel.signal() is a no-op once our side of stdin is closed (it checks `writable`), but
// the SSH protocol allows a signal request after EOF and OpenSSH honours it (killpg on the
// session). Every exec closes stdin, so the request is sent through the protocol object directly.
function sendSignal(channel: ClientChannel, name: "TERM" | "KILL"): void {
  const ch = channel as unknown as {
    outgoing?: { id: number; state: string };
    _client?: { _protocol?: { signal(id: number, signal: string): void } };
  };
  const state = ch.outgoing?.state;
  if (ch.outgoing && (state === "open" || state === "eof")) {
    try {
      ch._client?._protocol?.signal(ch.outgoing.id, name);
    } catch {
      // The connection is going away; closing the channel below is all that is left to do.
    }
  }
}

/** An established, host-key-verified, authenticated SSH connection. */
export class SshConnection {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** The host key blob that was verified for this connection (rsync's known_hosts is written from it). */
  readonly hostKey: Buffer;
  readonly hostKeyFingerprint: string;
  private isAlive = true;
  private closeReason: Error | undefined;
  private readonly closeListeners = new Set<(reason: Error | undefined) => void>();

  /** @internal created by {@link connect}. */
  constructor(
    private readonly client: SshClient,
    private readonly socket: net.Socket,
    config: ResolvedSshConfig,
    hostKey: Buffer,
  ) {
    this.host = config.host;
    this.port = config.port;
    this.user = config.user;
    this.hostKey = hostKey;
    this.hostKeyFingerprint = fingerprintOfKey(hostKey);
    client.on("error", (err: ErrnoLike) => {
      this.markDead(new SshError("SSH_DISCONNECTED", `SSH connection to ${this.target} failed: ${err.message}`, { cause: err }));
    });
    client.on("close", () => this.markDead(undefined));
    client.on("end", () => this.markDead(undefined));
  }

  get target(): string {
    return describeTarget(this);
  }

  /** False once the connection closed, failed or was closed by us. */
  get alive(): boolean {
    return this.isAlive && !this.socket.destroyed;
  }

  /** Called once when the connection goes away (immediately if it already has). Returns an unsubscribe. */
  onClose(listener: (reason: Error | undefined) => void): () => void {
    if (!this.isAlive) {
      queueMicrotask(() => listener(this.closeReason));
      return () => {};
    }
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  private markDead(reason: Error | undefined): void {
    if (!this.isAlive) return;
    this.isAlive = false;
    this.closeReason = reason;
    for (const l of [...this.closeListeners]) l(reason);
    this.closeListeners.clear();
    // Make sure the socket really goes (an error may leave it half-open).
    this.socket.destroy();
  }

  /** Ends the connection. In-flight commands fail with SSH_DISCONNECTED. */
  close(): void {
    if (this.isAlive) {
      this.client.end();
      // A peer that never answers our disconnect must not keep the socket (and the process) alive.
      setTimeout(() => this.socket.destroy(), 1_000).unref();
    }
    this.markDead(undefined);
  }

  /**
   * Runs argv on the host (quoted by shellCommand) and resolves with its output and exit status once
   * the channel closes. A non-zero exit is a result, not an error. Timeout and abort send SIGTERM to
   * the remote process group, then SIGKILL after a grace period, close the channel and reject with
   * SSH_EXEC_TIMEOUT or AbortedError. Failures before the command could start carry
   * `details.started === false` so the pool knows a retry cannot run it twice.
   */
  async exec(argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
    const command = shellCommand(argv);
    if (!Number.isFinite(opts.timeoutMs) || opts.timeoutMs <= 0) {
      throw new ValidationError("exec needs a positive timeoutMs", { timeoutMs: ["must be a positive number"] });
    }
    throwIfAborted(opts.signal);
    const where = this.target;
    const name = argv[0] ?? "";
    if (!this.alive) {
      throw new SshError("SSH_DISCONNECTED", `SSH connection to ${where} is closed`, {
        cause: this.closeReason,
        details: { started: false },
      });
    }

    const started = Date.now();
    const maxBuffer = opts.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES;
    const graceMs = opts.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    const stdout = new TailBuffer(maxBuffer);
    const stderr = new TailBuffer(maxBuffer);

    return await new Promise<ExecResult>((resolve, reject) => {
      let channel: ClientChannel | undefined;
      let settled = false;
      let stopping: Error | undefined;
      let exitCode: number | null = null;
      let exitSignal: string | null = null;
      let sawExit = false;
      let graceTimer: NodeJS.Timeout | undefined;

      const cleanup = (): void => {
        clearTimeout(timer);
        clearTimeout(openTimer);
        clearTimeout(graceTimer);
        opts.signal?.removeEventListener("abort", onAbort);
        unsubscribe();
      };
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        cleanup();
        reject(err);
      };
      const succeed = (): void => {
        if (settled) return;
        settled = true;
        cleanup();
        resolve({
          stdout: stdout.toString(),
          stderr: stderr.toString(),
          code: exitCode,
          signal: exitSignal,
          stdoutTruncated: stdout.truncated,
          stderrTruncated: stderr.truncated,
          durationMs: Date.now() - started,
        });
      };

      const stop = (err: Error): void => {
        if (settled || stopping) return;
        stopping = err;
        if (channel) sendSignal(channel, "TERM");
        graceTimer = setTimeout(() => {
          if (channel) {
            sendSignal(channel, "KILL");
            channel.close();
          }
          fail(err);
        }, graceMs);
      };

      const openTimeoutMs = Math.min(opts.openTimeoutMs ?? DEFAULT_CHANNEL_OPEN_TIMEOUT_MS, opts.timeoutMs);
      const timer = setTimeout(() => {
        stop(
          new SshError(
            "SSH_EXEC_TIMEOUT",
            `\`${name}\` on ${where} did not finish within ${opts.timeoutMs} ms; it was sent SIGTERM and its channel closed`,
            { details: { command: name, timeoutMs: opts.timeoutMs, started: channel !== undefined } },
          ),
        );
      }, opts.timeoutMs);
      // The channel open and the exec request are answered by the server in milliseconds; one that
      // stays unanswered on a connection that is still up (its keepalives have not given up on it yet)
      // means a wedged session, not a slow command. Whether the command started is unknown: the server may have
      // received the exec request. The caller (the pool) drops the connection; its close ends the
      // session on the server, and a channel that opens late is closed at once (onOpen).
      const openTimer =
        openTimeoutMs < opts.timeoutMs
          ? setTimeout(() => {
              if (channel || stopping) return;
              fail(
                new SshError(
                  "SSH_EXEC_TIMEOUT",
                  `${where} did not open a channel for \`${name}\` within ${openTimeoutMs} ms although the connection is still up ` +
                    `(a wedged session); whether the command started is unknown`,
                  { details: { command: name, openTimeoutMs, connectionWedged: true, startUnknown: true } },
                ),
              );
            }, openTimeoutMs)
          : undefined;
      const onAbort = (): void => {
        const reason: unknown = opts.signal?.reason;
        stop(hasCode(reason, "ABORTED") ? reason : new AbortedError(`\`${name}\` on ${where} was cancelled`));
      };
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      const unsubscribe = this.onClose((reason) => {
        fail(
          new SshError("SSH_DISCONNECTED", `SSH connection to ${where} closed while \`${name}\` was running`, {
            cause: reason,
            details: { command: name, started: channel !== undefined },
          }),
        );
      });

      const onOpen = (err: ErrnoLike | undefined, ch: ClientChannel | undefined): void => {
        if (err || !ch) {
          const openFailed = typeof err?.reason === "number";
          fail(
            openFailed
              ? new SshError(
                  "SSH_CHANNEL_OPEN_FAILED",
                  `${where} refused to open a session channel (${err?.message ?? "unknown"}); its MaxSessions may be reached`,
                  { cause: err, details: { started: false, reason: err?.reason } },
                )
              : new SshError("SSH_DISCONNECTED", `could not start \`${name}\` on ${where}: ${err?.message ?? "no channel"}`, {
                  cause: err,
                  details: { started: false },
                }),
          );
          return;
        }
        channel = ch;
        clearTimeout(openTimer);
        if (settled || stopping) {
          // Timed out or aborted while the channel was opening: the command has started, stop it.
          sendSignal(ch, "TERM");
          ch.close();
          if (stopping) fail(stopping);
          return;
        }
        // A throwing callback must not reach ssh2's parser (it would tear the whole connection down).
        const deliver = (cb: ((chunk: Buffer) => void) | undefined, chunk: Buffer): void => {
          try {
            cb?.(chunk);
          } catch {
            // The caller's problem; the command's output is still buffered.
          }
        };
        ch.on("data", (chunk: Buffer) => {
          stdout.push(chunk);
          deliver(opts.onStdout, chunk);
        });
        ch.stderr.on("data", (chunk: Buffer) => {
          stderr.push(chunk);
          deliver(opts.onStderr, chunk);
        });
        ch.on("exit", (code: number | null, signalName?: string) => {
          sawExit = true;
          exitCode = typeof code === "number" ? code : null;
          exitSignal = typeof signalName === "string" ? signalName.replace(/^SIG/, "") : null;
        });
        ch.on("error", () => {
          // Channel errors surface as a close without exit status; handled there.
        });
        ch.on("close", () => {
          if (stopping) return fail(stopping);
          if (!sawExit) {
            return fail(
              new SshError("SSH_DISCONNECTED", `\`${name}\` on ${where} ended without an exit status`, {
                details: { command: name, started: true, stderrTail: lastLines(stderr.toString()) },
              }),
            );
          }
          succeed();
        });
        if (opts.stdin !== undefined) ch.end(opts.stdin);
        else ch.end();
      };

      try {
        this.client.exec(command, onOpen);
      } catch (e) {
        fail(
          new SshError("SSH_DISCONNECTED", `could not start \`${name}\` on ${where}: ${(e as Error).message}`, {
            cause: e,
            details: { started: false },
          }),
        );
      }
    });
  }

  /**
   * Opens a channel that the caller drives itself (the SSH gateway, port forwards, Packer's tunnel):
   * an interactive or binary session (shell or a raw command, optionally under a pty), a subsystem
   * such as sftp, or a `direct-tcpip` connection to an address as seen from the host. Resolves once
   * the server accepted the channel and every request on it; the caller owns the channel from then
   * on (write, `setWindow`, `signal`, `close`) and learns the end from its `exit`/`close` events.
   * Failures carry `details.started === false`: nothing ran, a retry elsewhere is safe.
   */
  async openChannel(request: ChannelRequest, opts: OpenChannelOptions = {}): Promise<ClientChannel> {
    throwIfAborted(opts.signal);
    const where = this.target;
    const what = describeRequest(request);
    if (!this.alive) {
      throw new SshError("SSH_DISCONNECTED", `SSH connection to ${where} is closed`, {
        cause: this.closeReason,
        details: { started: false },
      });
    }
    const timeoutMs = opts.timeoutMs ?? DEFAULT_CHANNEL_OPEN_TIMEOUT_MS;
    return await new Promise<ClientChannel>((resolve, reject) => {
      let settled = false;
      const cleanup = (): void => {
        clearTimeout(timer);
        opts.signal?.removeEventListener("abort", onAbort);
        unsubscribe();
      };
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        cleanup();
        reject(err);
      };
      const timer = setTimeout(() => {
        fail(
          new SshError("SSH_EXEC_TIMEOUT", `${where} did not open ${what} within ${timeoutMs} ms`, {
            details: { started: false, timeoutMs },
          }),
        );
      }, timeoutMs);
      const onAbort = (): void => {
        const reason: unknown = opts.signal?.reason;
        fail(hasCode(reason, "ABORTED") ? reason : new AbortedError(`opening ${what} on ${where} was cancelled`));
      };
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      const unsubscribe = this.onClose((reason) => {
        fail(
          new SshError("SSH_DISCONNECTED", `SSH connection to ${where} closed while opening ${what}`, {
            cause: reason,
            details: { started: false },
          }),
        );
      });
      const onOpen = (err: ErrnoLike | undefined, ch: ClientChannel | undefined): void => {
        if (err || !ch) {
          fail(channelOpenError(request, where, what, err));
          return;
        }
        ch.on("error", () => {
          // The owner sees the close; an unhandled 'error' must not crash the process.
        });
        // ssh2 parses a whole TCP read at once: the exit status can arrive in the same read as the
        // open confirmation, before our promise resolves and the owner listens. Keep it for exitOf().
        ch.once("exit", (code: number | null, signalName?: string) => {
          exits.set(ch, {
            code: typeof code === "number" ? code : null,
            signal: typeof signalName === "string" ? signalName.replace(/^SIG/, "") : null,
          });
        });
        if (settled) {
          // Timed out or aborted meanwhile: nobody will own this channel.
          ch.close();
          return;
        }
        settled = true;
        cleanup();
        resolve(ch);
      };
      try {
        switch (request.type) {
          case "session": {
            // @types/ssh2 types `env` as a whole process environment; any string map is what goes on the wire.
            const env = request.env && Object.keys(request.env).length > 0 ? { env: request.env as NodeJS.ProcessEnv } : {};
            // ssh2's shell() asks for a pty unless its window options are `false`.
            if (request.command === undefined) this.client.shell(request.pty ? ptyConfig(request.pty) : false, env, onOpen);
            else this.client.exec(request.command, { ...env, ...(request.pty ? { pty: ptyConfig(request.pty) } : {}) }, onOpen);
            break;
          }
          case "subsystem":
            this.client.subsys(request.name, onOpen);
            break;
          case "direct-tcpip":
            this.client.forwardOut(request.srcHost, request.srcPort, request.dstHost, request.dstPort, onOpen);
            break;
        }
      } catch (e) {
        fail(
          new SshError("SSH_DISCONNECTED", `could not open ${what} on ${where}: ${(e as Error).message}`, {
            cause: e,
            details: { started: false },
          }),
        );
      }
    });
  }

  /** Like {@link exec} but a non-zero exit (or death by signal) throws SSH_COMMAND_FAILED with the last stderr lines. */
  async execChecked(argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
    const result = await this.exec(argv, opts);
    return checkExitStatus(argv, result, this.target);
  }
}

/** Throws SSH_COMMAND_FAILED unless the command exited 0; shared by SshConnection and SshPool. */
export function checkExitStatus(argv: readonly string[], result: ExecResult, target: string): ExecResult {
  if (result.code === 0) return result;
  const name = argv[0] ?? "";
  const status = result.code !== null ? `exit code ${result.code}` : `signal ${result.signal ?? "unknown"}`;
  const tail = lastLines(result.stderr) || lastLines(result.stdout);
  throw new SshError("SSH_COMMAND_FAILED", `\`${name}\` failed on ${target} with ${status}${tail ? `:\n${tail}` : ""}`, {
    details: { command: name, code: result.code, signal: result.signal, stderrTail: lastLines(result.stderr, 20) },
  });
}

/**
 * Opens a connection: TCP (no Nagle), handshake, host key verified against the config's trust,
 * authentication. Rejects with an SshError (or AbortedError) naming host:port; never accepts an
 * unknown or changed host key.
 */
export async function connect(config: SshConfig, opts: ConnectOptions = {}): Promise<SshConnection> {
  const cfg = parseSshConfig(config);
  throwIfAborted(opts.signal);
  const auth = await loadAuth(cfg);
  const knownHostsPath = cfg.trust.knownHostsPath;
  const knownHostsText = knownHostsPath !== undefined ? await loadKnownHosts(knownHostsPath) : undefined;
  throwIfAborted(opts.signal);
  const readyTimeoutMs = opts.readyTimeoutMs ?? cfg.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const where = hostPort(cfg.host, cfg.port);

  return new Promise<SshConnection>((resolve, reject) => {
    const client = new Client();
    const socket = net.connect({ host: cfg.host, port: cfg.port, noDelay: true });
    let settled = false;
    let refusal: SshError | undefined;
    let verifiedKey: Buffer | undefined;

    const cleanup = (): void => {
      clearTimeout(safetyTimer);
      opts.signal?.removeEventListener("abort", onAbort);
    };
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      cleanup();
      client.end();
      socket.destroy();
      reject(err);
    };
    // ssh2's readyTimeout covers this too; ours is the backstop should a phase ever escape it.
    const safetyTimer = setTimeout(() => {
      fail(
        new SshError("SSH_CONNECT_TIMEOUT", `SSH handshake with ${where} did not complete within ${readyTimeoutMs} ms`, {
          details: { host: cfg.host, port: cfg.port },
        }),
      );
    }, readyTimeoutMs + 500);
    const onAbort = (): void => {
      const reason: unknown = opts.signal?.reason;
      fail(hasCode(reason, "ABORTED") ? reason : new AbortedError(`connecting to ${where} was cancelled`));
    };
    opts.signal?.addEventListener("abort", onAbort, { once: true });

    // Always listening: after `ready` the SshConnection handles errors too, but an EventEmitter
    // 'error' without a listener would crash the process.
    client.on("error", (err: ErrnoLike) => {
      if (settled) return;
      fail(refusal ?? mapConnectError(err, cfg, auth, readyTimeoutMs));
    });
    client.on("close", () => {
      fail(
        refusal ??
          new SshError("SSH_DISCONNECTED", `${where} closed the connection during the SSH handshake`, {
            details: { host: cfg.host, port: cfg.port, started: false, handshakeDropped: true },
          }),
      );
    });
    client.on("ready", () => {
      if (settled) return;
      if (!verifiedKey) {
        return fail(new SshError("SSH_HOST_KEY_UNKNOWN", `${where} completed a handshake without a verified host key`));
      }
      settled = true;
      cleanup();
      resolve(new SshConnection(client, socket, cfg, verifiedKey));
    });

    const hostVerifier = (key: Buffer): boolean => {
      try {
        const verdict = verifyHostKey({
          host: cfg.host,
          port: cfg.port,
          offeredKey: key,
          ...("pinnedFingerprint" in cfg.trust ? { pinned: cfg.trust.pinnedFingerprint } : {}),
          ...(knownHostsPath !== undefined ? { knownHosts: { text: knownHostsText ?? "", source: knownHostsPath } } : {}),
        });
        if (verdict.ok) {
          verifiedKey = Buffer.from(key);
          return true;
        }
        refusal = hostKeyError(verdict);
      } catch (e) {
        refusal = new SshError("SSH_HOST_KEY_UNKNOWN", `could not verify the host key of ${where}: ${(e as Error).message}`, {
          cause: e,
        });
      }
      return false;
    };

    const connectConfig: ConnectConfig = {
      sock: socket,
      username: cfg.user,
      readyTimeout: readyTimeoutMs,
      algorithms: SSH2_ALGORITHMS,
      keepaliveInterval: cfg.keepaliveIntervalMs ?? DEFAULT_KEEPALIVE_INTERVAL_MS,
      keepaliveCountMax: cfg.keepaliveCountMax ?? DEFAULT_KEEPALIVE_COUNT_MAX,
      hostVerifier,
      ...(auth.agent !== undefined
        ? { agent: auth.agent }
        : { privateKey: auth.privateKey, ...(auth.passphrase !== undefined ? { passphrase: auth.passphrase } : {}) }),
    };
    try {
      client.connect(connectConfig);
    } catch (e) {
      fail(new SshError("SSH_KEY_UNREADABLE", `cannot start SSH to ${where}: ${(e as Error).message}`, { cause: e }));
    }
  });
}
