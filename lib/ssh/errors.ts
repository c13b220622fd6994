// The errors of the SSH layer. Every failure that reaches a person names the host:port it concerns and
// says what to do next; the stable `code` is what the manager, the API and tests branch on.
// Cancellation is not an SshError: it is `AbortedError` from lib/errors, the same for every layer.
import "server-only";

import { SandboxerError, isSandboxerError, type ErrorDetails } from "@/lib/errors";

import { cleanOutputLine } from "./output-lines";

/**
 * The codes an {@link SshError} carries, each documented with when it is thrown.
 */
export const SSH_ERROR_CODES = {
  /** Thrown when the host offered a key that neither the pinned fingerprint nor the known_hosts file vouches for (no entry for this host:port at all). Never auto-accepted. */
  SSH_HOST_KEY_UNKNOWN: "SSH_HOST_KEY_UNKNOWN",
  /** Thrown when the host offered a key other than the pinned one or the one(s) known_hosts lists for this host:port: the VM was rebuilt, or something is intercepting the connection. */
  SSH_HOST_KEY_CHANGED: "SSH_HOST_KEY_CHANGED",
  /** Thrown when the key the host offered is marked `@revoked` in known_hosts. */
  SSH_HOST_KEY_REVOKED: "SSH_HOST_KEY_REVOKED",
  /** Thrown when the TCP connection was refused: nothing is listening on host:port (sshd down, tunnel not up, wrong port). */
  SSH_CONNECT_REFUSED: "SSH_CONNECT_REFUSED",
  /** Thrown when the TCP connect or the SSH handshake (banner, key exchange, authentication) did not finish within the ready timeout. */
  SSH_CONNECT_TIMEOUT: "SSH_CONNECT_TIMEOUT",
  /** Thrown when the host cannot be reached at all: no route, network down, or its name does not resolve. */
  SSH_HOST_UNREACHABLE: "SSH_HOST_UNREACHABLE",
  /** Thrown when the server rejected every offered credential (key not in authorized_keys, wrong user, agent without the key). */
  SSH_AUTH_FAILED: "SSH_AUTH_FAILED",
  /** Thrown when a remote command (or a wait for a free channel) exceeded its time limit; the remote process was signalled and its channel closed. */
  SSH_EXEC_TIMEOUT: "SSH_EXEC_TIMEOUT",
  /** Thrown when an established connection or channel went away (server closed it, keepalive timeout, protocol error), or the server dropped the connection during the handshake. */
  SSH_DISCONNECTED: "SSH_DISCONNECTED",
  /** Thrown when the private key file cannot be read or parsed, its passphrase is missing or wrong, or the ssh-agent socket is not available. */
  SSH_KEY_UNREADABLE: "SSH_KEY_UNREADABLE",
  /** Thrown when the server refused to open a channel (e.g. `MaxSessions` reached) on every connection the pool tried. */
  SSH_CHANNEL_OPEN_FAILED: "SSH_CHANNEL_OPEN_FAILED",
  /** Thrown when the server opened a session channel but refused what was asked on it (a pty, a command, a shell or a subsystem such as sftp). */
  SSH_CHANNEL_REQUEST_FAILED: "SSH_CHANNEL_REQUEST_FAILED",
  /** Thrown when the server refused a `direct-tcpip` channel: nothing listens on the forwarded address, or its `AllowTcpForwarding` forbids it. */
  SSH_FORWARD_FAILED: "SSH_FORWARD_FAILED",
  /** Thrown by `execChecked` when a remote command exited non-zero or was killed by a signal. */
  SSH_COMMAND_FAILED: "SSH_COMMAND_FAILED",
  /** Thrown when rsync exited non-zero (connection, host key, permission or I/O failure); the message explains the exit code and quotes its last stderr lines. */
  RSYNC_FAILED: "RSYNC_FAILED",
  /** Thrown when the workspace root on the host is missing, not a directory, not writable, or resolves to `/`. */
  SSH_WORKSPACE_ROOT_INVALID: "SSH_WORKSPACE_ROOT_INVALID",
  /** Thrown when `<root>/sbx-<id>` already exists and is not an empty directory owned by the SSH user (i.e. not provably ours). */
  SSH_WORKSPACE_EXISTS: "SSH_WORKSPACE_EXISTS",
  /** Thrown when `<root>/sbx-<id>` is a symlink, not a directory, or does not resolve to a directory directly under the root; nothing was removed. */
  SSH_WORKSPACE_UNSAFE: "SSH_WORKSPACE_UNSAFE",
  /** Thrown when removing a workspace left files behind (e.g. owned by another user); `details.remaining` lists them and a retry is safe. */
  SSH_WORKSPACE_REMOVE_INCOMPLETE: "SSH_WORKSPACE_REMOVE_INCOMPLETE",
} as const;

export type SshErrorCode = (typeof SSH_ERROR_CODES)[keyof typeof SSH_ERROR_CODES];

/** Thrown by lib/ssh for every SSH, rsync and remote-workspace failure; `code` says which (see {@link SSH_ERROR_CODES}). */
export class SshError extends SandboxerError {
  declare readonly code: SshErrorCode;

  constructor(code: SshErrorCode, message: string, options?: { cause?: unknown; details?: ErrorDetails }) {
    super(code, message, { ...options, name: "SshError" });
  }
}

export function isSshError(e: unknown, code?: SshErrorCode): e is SshError {
  // By brand and code, not instanceof: see lib/errors.ts (module copies across server chunks).
  return isSandboxerError(e) && (Object.values(SSH_ERROR_CODES) as string[]).includes(e.code) && (code === undefined || e.code === code);
}

/** `host:port`, with brackets for IPv6 literals so the port stays unambiguous. */
export function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** lastLines on one line (` | ` between them), for a reason a person reads in a table or a status. */
export function tailLine(text: string, n = 3): string {
  return lastLines(text, n).replace(/\n/g, " | ");
}

/** The last `n` non-empty lines of what a host printed, each cleaned (cleanOutputLine), for an error message. */
export function lastLines(text: string, n = 5): string {
  return text
    .split(/\r?\n|\r/)
    .map(cleanOutputLine)
    .filter((l) => l.length > 0)
    .slice(-n)
    .join("\n");
}
