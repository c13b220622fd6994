// What a failed SSH connect means, in words a person can act on: refused (nothing listening, tunnel
// down), unreachable, a handshake dropped by MaxStartups, a timeout, keys the server did not accept.
import { SshError, hostPort } from "./errors";
import type { LoadedAuth } from "./ssh-auth";
import type { ResolvedSshConfig } from "./ssh-config";

export type ErrnoLike = Error & { code?: string | number; level?: string; reason?: number };

export function mapConnectError(err: ErrnoLike, config: ResolvedSshConfig, auth: LoadedAuth, readyTimeoutMs: number): SshError {
  const where = hostPort(config.host, config.port);
  const code = typeof err.code === "string" ? err.code : undefined;
  const details = { host: config.host, port: config.port, cause: err.message };
  switch (code) {
    case "ECONNREFUSED":
      return new SshError(
        "SSH_CONNECT_REFUSED",
        `connection to ${where} was refused: nothing is listening there (is sshd running, or the tunnel up?)`,
        { cause: err, details },
      );
    case "ETIMEDOUT":
      return new SshError("SSH_CONNECT_TIMEOUT", `TCP connection to ${where} timed out`, { cause: err, details });
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "EHOSTDOWN":
    case "ENETDOWN":
    case "EADDRNOTAVAIL":
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new SshError("SSH_HOST_UNREACHABLE", `${where} is unreachable (${code})`, { cause: err, details });
    case "ECONNRESET":
    case "EPIPE":
      return new SshError(
        "SSH_DISCONNECTED",
        `${where} reset the connection during the SSH handshake (sshd may be dropping connections beyond MaxStartups)`,
        { cause: err, details: { ...details, started: false, handshakeDropped: true } },
      );
  }
  if (err.level === "client-timeout") {
    return new SshError(
      "SSH_CONNECT_TIMEOUT",
      `SSH handshake with ${where} did not complete within ${readyTimeoutMs} ms (the host accepted TCP but did not answer as sshd)`,
      { cause: err, details },
    );
  }
  if (err.level === "client-authentication") {
    return new SshError(
      "SSH_AUTH_FAILED",
      `authentication as ${config.user} on ${where} failed with ${auth.describe}: the server accepted none of the offered keys ` +
        `(is the public key in ~${config.user}/.ssh/authorized_keys on the VM?)`,
      { cause: err, details },
    );
  }
  if (err.level === "agent") {
    return new SshError("SSH_KEY_UNREADABLE", `ssh-agent failed while authenticating to ${where}: ${err.message}`, {
      cause: err,
      details,
    });
  }
  if (/lost before handshake/i.test(err.message)) {
    return new SshError(
      "SSH_DISCONNECTED",
      `${where} closed the connection before the SSH handshake (sshd may be dropping connections beyond MaxStartups)`,
      { cause: err, details: { ...details, started: false, handshakeDropped: true } },
    );
  }
  return new SshError("SSH_DISCONNECTED", `SSH handshake with ${where} failed: ${err.message}`, {
    cause: err,
    details,
  });
}
