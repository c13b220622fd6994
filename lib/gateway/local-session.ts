// Sessions in local sandboxes (ext.local) through the SSH gateway: a process on the sand-boxer
// server itself, started in the sandbox's directory, as the server's own user. The gateway admits
// only admins, and only while it listens on loopback (lib/gateway/gateway.ts decides; this file
// runs what it admitted). Commands without a pty run as `$SHELL -c <command>` (or a login shell)
// with pipes; under a pty, util-linux `script` makes the terminal (no native module), the window
// size is set inside it from the environment and followed with `stty -F <its tty>`. Everything is
// spawned from argument arrays: the person's command is one argument, the same text OpenSSH would
// hand to `$SHELL -c`; nothing is concatenated into a shell command.
import "server-only";

import { execFile, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export interface LocalSessionSpec {
  workspace: string;
  kind: "shell" | "exec" | "sftp";
  /** The person's command (exec), else null. */
  command: string | null;
  pty?: { term: string; rows: number; cols: number };
  /** Accepted `env` requests (LANG, LC_*, TERM). */
  env: Record<string, string>;
}

const SFTP_SERVERS = [
  "/usr/lib/openssh/sftp-server",
  "/usr/libexec/openssh/sftp-server",
  "/usr/lib/sftp-server",
  "/usr/libexec/sftp-server",
];

/** OpenSSH's sftp-server on this machine, or null. */
export function sftpServerPath(): string | null {
  return SFTP_SERVERS.find((p) => fs.existsSync(p)) ?? null;
}

// Under `script`: the window size first (from the environment: no text of ours or the person's is
// spliced into this), then the person's shell or command.
const PTY_PROGRAM =
  'stty rows "$SBX_ROWS" cols "$SBX_COLS" 2>/dev/null; export SHELL="$SBX_SHELL"; c=$SBX_COMMAND; m=$SBX_MODE; ' +
  "unset SBX_ROWS SBX_COLS SBX_SHELL SBX_COMMAND SBX_MODE; " +
  'if [ "$m" = exec ]; then exec "$SHELL" -c "$c"; else exec "$SHELL" -l; fi';

function dimension(n: number): string {
  return String(Number.isInteger(n) && n > 0 && n < 10_000 ? n : 0);
}

/**
 * The argv and environment of a local session. The environment is built from nothing: the server's
 * own holds its secrets (database URL, auth secret), which a session must not inherit.
 */
export function localSessionCommand(spec: LocalSessionSpec): { argv: string[]; env: Record<string, string> } {
  const user = os.userInfo();
  const shell = user.shell && path.isAbsolute(user.shell) ? user.shell : "/bin/sh";
  const env: Record<string, string> = {
    HOME: user.homedir,
    USER: user.username,
    LOGNAME: user.username,
    SHELL: shell,
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    PWD: spec.workspace,
    ...spec.env,
  };
  if (spec.kind === "sftp") {
    const sftp = sftpServerPath();
    if (!sftp) throw new Error("this server has no sftp-server (install openssh-sftp-server)");
    return { argv: [sftp], env };
  }
  if (!spec.pty) {
    return { argv: spec.kind === "exec" ? [shell, "-c", spec.command ?? ""] : [shell, "-l"], env };
  }
  return {
    argv: ["script", "--quiet", "--flush", "--return", "--command", PTY_PROGRAM, "/dev/null"],
    env: {
      ...env,
      TERM: spec.pty.term,
      SHELL: "/bin/sh",
      SBX_SHELL: shell,
      SBX_MODE: spec.kind,
      SBX_COMMAND: spec.command ?? "",
      SBX_ROWS: dimension(spec.pty.rows),
      SBX_COLS: dimension(spec.pty.cols),
    },
  };
}

/** Starts a local session in its own process group (so ending it reaches everything it started). */
export function startLocalSession(spec: LocalSessionSpec): ChildProcess {
  const { argv, env } = localSessionCommand(spec);
  return spawn(argv[0]!, argv.slice(1), {
    cwd: spec.workspace,
    env: env as NodeJS.ProcessEnv,
    stdio: ["pipe", "pipe", "pipe"],
    detached: true,
  });
}

/** Signals a local session's process group (the pty's shell has its own session: it gets it too). */
export function signalLocalSession(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  // The group outlives its first process when that one started others; its pty's shell is found while it lives.
  const leaderAlive = child.exitCode === null && child.signalCode === null;
  for (const pid of [child.pid, ...(leaderAlive ? ptyChildren(child.pid) : [])]) {
    try {
      process.kill(-pid, signal);
    } catch {
      // Not a group (any more). The process alone only while it is known to live: a reaped pid may be another's now.
      if (!leaderAlive) continue;
      try {
        process.kill(pid, signal);
      } catch {
        // Gone.
      }
    }
  }
}

function ptyChildren(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Follows a window change: sets the size of the terminal `script` made (the kernel tells its
 * programs). Resolves when it is set, so input that came after the change can wait for it.
 */
export function resizeLocalSession(child: ChildProcess, rows: number, cols: number): Promise<void> {
  if (child.pid === undefined) return Promise.resolve();
  for (const c of ptyChildren(child.pid)) {
    let tty: string;
    try {
      tty = fs.readlinkSync(`/proc/${c}/fd/0`);
    } catch {
      continue;
    }
    if (!/^\/dev\/pts\/\d+$/.test(tty)) continue;
    return new Promise((resolve) => {
      execFile("stty", ["-F", tty, "rows", dimension(rows), "cols", dimension(cols)], { timeout: 5_000 }, () => resolve());
    });
  }
  return Promise.resolve();
}
