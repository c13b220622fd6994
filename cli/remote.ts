// The CLI's own ssh and rsync to a sandbox, with the system OpenSSH client and the person's own
// identity (private keys never come from the server). Trust is pinned: the server's connection
// details carry one known_hosts line for exactly the key it verified; it goes into a throwaway
// UserKnownHostsFile with StrictHostKeyChecking=yes, and the line's fingerprint is re-checked here
// against the pinned one before anything connects. No host key is ever auto-accepted.
//
// Processes are spawned from argv arrays; the one string a remote shell sees is built with
// shellCommand/quoteArg (lib/ssh/shell-quote.ts, whose quoting also survives rsync's `-e` splitting).
//
// Stopping a remote command: without a pty, sshd does not signal the command when the client goes
// away, so killing the local ssh is not enough. sshd starts every session's shell as a session and
// process-group leader, so the command first reports that shell's PID on stderr (a marker line the
// CLI strips), and a stop is a second connection that signals the whole group: TERM, then KILL.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Transform, type TransformCallback } from "node:stream";

import type { ConnectionView } from "@/lib/manager/connection";
import { fingerprintOfKey, keyTypeOfBlob, knownHostsName } from "@/lib/ssh/host-keys";
import { quoteArg, shellCommand } from "@/lib/ssh/shell-quote";
import { SSH_OPTION_PATH_RULE, pinnedKeyOptions, sshOptionPath } from "@/lib/ssh/ssh-options";

import { abortReason } from "./api-client";
import { CliError, EXIT } from "./exit-codes";

const HOST_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const USER_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
const KEY_LINE_PATTERN = /^(\S+) ([a-z0-9@.-]+) ([A-Za-z0-9+/]+={0,2})$/;
const PID_MARKER = "sandboxer-remote-pid=";
const KILL_GRACE_MS = 2_000;
const STOP_TIMEOUT_MS = 15_000;

// Runs on the VM with the group id as $1 (never spliced into the text): TERM, up to 2 s, then KILL.
const STOP_SCRIPT =
  'kill -s TERM -- "-$1" 2>/dev/null || exit 0; i=0; while [ "$i" -lt 20 ]; do kill -s 0 -- "-$1" 2>/dev/null || exit 0; sleep 0.1; i=$((i+1)); done; kill -s KILL -- "-$1" 2>/dev/null; exit 0';

function refuse(conn: ConnectionView, why: string): never {
  throw new CliError(
    "BAD_CONNECTION",
    `The server's connection details for sandbox ${conn.sandboxId} are inconsistent (${why}); refusing to connect`,
    EXIT.FAILURE,
  );
}

function keyTypeOrNull(blob: Buffer): string | null {
  try {
    return keyTypeOfBlob(blob);
  } catch {
    return null;
  }
}

/** Checks every field that reaches an ssh argv or a file, and that the key line is the pinned key. */
function validateConnection(conn: ConnectionView): { keyType: string } {
  if (!HOST_PATTERN.test(conn.host)) refuse(conn, `host ${JSON.stringify(conn.host)}`);
  if (!USER_PATTERN.test(conn.user)) refuse(conn, `user ${JSON.stringify(conn.user)}`);
  if (!Number.isInteger(conn.port) || conn.port < 1 || conn.port > 65535) refuse(conn, `port ${conn.port}`);
  const ws = conn.workspacePath;
  if (!ws.startsWith("/") || /[\0\n\r]/.test(ws) || path.posix.normalize(ws) !== ws || ws === "/")
    refuse(conn, `workspace ${JSON.stringify(ws)}`);
  const m = KEY_LINE_PATTERN.exec(conn.knownHostsLine);
  if (!m) refuse(conn, "known_hosts line");
  const name = knownHostsName(conn.host, conn.port);
  if (m[1] !== name) refuse(conn, `the key is for ${m[1]}, not ${name}`);
  const blob = Buffer.from(m[3]!, "base64");
  if (keyTypeOrNull(blob) !== m[2]) refuse(conn, "the key's type");
  const fingerprint = fingerprintOfKey(blob);
  if (fingerprint !== conn.hostKey.replace(/=+$/, "")) refuse(conn, `the key is ${fingerprint}, the pinned one ${conn.hostKey}`);
  return { keyType: m[2]! };
}

/** sshOptionPath (lib/ssh/ssh-options.ts), or a usage error naming `what`. */
function optionPath(p: string, what: string): string {
  const quoted = sshOptionPath(p);
  if (quoted === null)
    throw new CliError("BAD_PATH", `${what} ${JSON.stringify(p)} cannot be passed to ssh (must be ${SSH_OPTION_PATH_RULE})`, EXIT.USAGE);
  return quoted;
}

/** The identity to pass with -i: --identity, else $SANDBOXER_SSH_IDENTITY, else ssh's own defaults and agent. */
export function resolveIdentity(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string | undefined {
  const raw = flag ?? env.SANDBOXER_SSH_IDENTITY;
  if (!raw) return undefined;
  const file = path.resolve(raw);
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch {
    throw new CliError("IDENTITY_UNREADABLE", `The SSH identity ${file} does not exist or is not readable`, EXIT.USAGE);
  }
  optionPath(file, "identity file");
  return file;
}

/** A sandbox's SSH endpoint with its pinned key in a private temporary known_hosts. Close it when done. */
export class PinnedTarget {
  /** Our own control master (startMaster), and its socket in the private temporary directory. */
  private master: ChildProcess | null = null;
  private socket: string | null = null;

  private constructor(
    readonly conn: ConnectionView,
    private readonly dir: string,
    private readonly knownHostsFile: string,
    private readonly keyType: string,
    private readonly identity: string | undefined,
  ) {}

  static async open(conn: ConnectionView, identity: string | undefined): Promise<PinnedTarget> {
    const { keyType } = validateConnection(conn);
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), "sandboxer-ssh-"));
    const file = path.join(dir, "known_hosts");
    await fs.promises.writeFile(file, conn.knownHostsLine + "\n", { mode: 0o600 });
    return new PinnedTarget(conn, dir, file, keyType, identity);
  }

  /**
   * Options for ssh: only the pinned key is trusted. The person's ~/.ssh/config still applies (jump
   * hosts, keep-alives), but these come first on the command line, and for ssh the first value wins.
   */
  sshOptions(opts: { batch: boolean; master?: boolean }): string[] {
    const options = [
      ...pinnedKeyOptions(optionPath(this.knownHostsFile, "temporary directory"), this.keyType),
      // Never a master from the person's config (its connection would skip this one's host-key check);
      // only ours, which checked the pinned key and whose socket is in our private temporary directory.
      ...(this.socket
        ? [`ControlMaster=${opts.master ? "yes" : "no"}`, `ControlPath=${optionPath(this.socket, "temporary directory")}`]
        : ["ControlMaster=no", "ControlPath=none"]),
      "ConnectTimeout=15",
      "ServerAliveInterval=15",
      "ServerAliveCountMax=3",
      `BatchMode=${opts.batch ? "yes" : "no"}`,
    ];
    const argv = options.flatMap((o) => ["-o", o]);
    argv.push("-p", String(this.conn.port));
    if (this.identity) argv.push("-i", this.identity, "-o", "IdentitiesOnly=yes");
    return argv;
  }

  get destination(): string {
    return `${this.conn.user}@${this.conn.host}`;
  }

  get workspace(): string {
    return this.conn.workspacePath;
  }

  /** rsync's `user@host:path` (an IPv6 address in brackets). */
  rsyncTarget(remotePath: string): string {
    const host = this.conn.host.includes(":") ? `[${this.conn.host}]` : this.conn.host;
    return `${this.conn.user}@${host}:${remotePath}`;
  }

  /**
   * Starts a control master to the target (verified against the pinned key like any connection of
   * ours) so the ssh and rsync that follow multiplex over one connection: one handshake for `run`'s
   * sync and command instead of one each. Resolves false (and later connections are direct) when it
   * could not be made; close() stops it.
   */
  async startMaster(signal: AbortSignal, timeoutMs = 15_000): Promise<boolean> {
    if (this.master) return true;
    this.socket = path.join(this.dir, "s");
    const argv = [...this.sshOptions({ batch: true, master: true }), "-o", "ControlPersist=no", "-N", "-T", this.destination];
    const child = spawn("ssh", argv, { stdio: ["ignore", "ignore", "pipe"] });
    child.stderr.resume();
    let exited = false;
    child.once("exit", () => (exited = true));
    child.once("error", () => (exited = true));
    this.master = child;
    // The socket appears once the master has authenticated.
    const deadline = Date.now() + timeoutMs;
    while (!exited && !signal.aborted && Date.now() < deadline) {
      if (fs.existsSync(this.socket)) return true;
      await new Promise((r) => setTimeout(r, 10));
    }
    await this.stopMaster();
    return false;
  }

  /** The control master's process id while it runs (for tests). */
  get masterPid(): number | undefined {
    return this.master?.pid;
  }

  /**
   * Stops the control master and resolves once it has exited (and been reaped): SIGTERM, then SIGKILL
   * if it is still there after `graceMs` (a loaded machine can hold ssh's cleanup back for seconds).
   */
  private async stopMaster(graceMs = 2_000): Promise<void> {
    const child = this.master;
    this.master = null;
    this.socket = null;
    if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await exited;
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    await this.stopMaster();
    await fs.promises.rm(this.dir, { recursive: true, force: true });
  }
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (os.constants.signals[signal] ?? 1) : 1);
}

/** Passes stderr through, minus the one marker line carrying the remote shell's PID. */
class PidMarkerFilter extends Transform {
  pid: number | null = null;
  private pending = "";
  private found = false;
  constructor(private readonly onPid: (pid: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.found) return done(null, chunk);
    this.pending += chunk.toString("utf8");
    let nl: number;
    while (!this.found && (nl = this.pending.indexOf("\n")) !== -1) {
      const line = this.pending.slice(0, nl);
      this.pending = this.pending.slice(nl + 1);
      const m = line.startsWith(PID_MARKER) ? /^(\d+)\r?$/.exec(line.slice(PID_MARKER.length)) : null;
      if (m) {
        this.found = true;
        this.pid = Number(m[1]);
        this.onPid(this.pid);
      } else {
        this.push(line + "\n"); // ssh's own messages come before the marker
      }
    }
    if (this.found && this.pending) {
      this.push(this.pending);
      this.pending = "";
    }
    done();
  }
  override _flush(done: TransformCallback): void {
    done(null, this.pending || null);
  }
}

/** Signals the remote process group `pid` over a second connection (TERM, then KILL). Never throws. */
async function stopRemoteGroup(target: PinnedTarget, pid: number): Promise<void> {
  const argv = [
    ...target.sshOptions({ batch: true }),
    "-T",
    target.destination,
    shellCommand(["sh", "-c", STOP_SCRIPT, "sandboxer-stop", String(pid)]),
  ];
  await new Promise<void>((resolve) => {
    const child = spawn("ssh", argv, { stdio: "ignore" });
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    child.once("error", () => resolve());
    child.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Runs `argv` in the sandbox's workspace and streams its output; resolves with its exit code (255:
 * ssh itself failed). On abort, stops the remote command (see the header) and rejects with the
 * signal's reason once it is stopped.
 */
export async function runRemoteCommand(
  target: PinnedTarget,
  argv: readonly string[],
  opts: { stdin: "inherit" | "ignore"; tty?: boolean; signal: AbortSignal },
): Promise<number> {
  const command = `cd ${quoteArg(target.workspace)} && ${shellCommand(argv)}`;
  // With a pty, stderr joins stdout and the hang-up on disconnect already stops the command.
  const script = opts.tty ? command : `printf '%s\\n' "${PID_MARKER}$$" >&2 && ${command}`;
  const args = [...target.sshOptions({ batch: !process.stdin.isTTY }), opts.tty ? "-tt" : "-T", target.destination, script];
  if (opts.signal.aborted) throw abortReason(opts.signal);
  const child = spawn("ssh", args, { stdio: [opts.stdin, "inherit", "pipe"] });
  let remotePid: number | null = null;
  let stopRequested = false;
  let stopping: Promise<void> = Promise.resolve();
  const stopRemote = () => {
    if (remotePid !== null) stopping = stopRemoteGroup(target, remotePid);
  };
  const stop = () => {
    stopRequested = true;
    stopRemote();
    child.kill("SIGTERM");
  };
  const filter = new PidMarkerFilter((pid) => {
    remotePid = pid;
    // The marker can arrive after a stop that found no PID yet (it is flushed before "close").
    if (stopRequested) stopRemote();
  });
  child.stderr.pipe(filter).pipe(process.stderr, { end: false });
  opts.signal.addEventListener("abort", stop, { once: true });
  try {
    const code = await new Promise<number>((resolve, reject) => {
      child.once("error", (e) =>
        reject(new CliError("SSH_MISSING", `Cannot run ssh: ${e.message} (install the OpenSSH client)`, EXIT.FAILURE)),
      );
      child.once("close", (c, s) => resolve(exitCodeOf(c, s)));
    });
    if (opts.signal.aborted) {
      await stopping;
      throw abortReason(opts.signal);
    }
    return code;
  } finally {
    opts.signal.removeEventListener("abort", stop);
  }
}

/**
 * Copies `source` (a local directory) into the workspace with `rsync -az` over the pinned ssh:
 * .gitignore files are honoured and .git is left out. Files are compared by content (`--checksum`),
 * not size and modification time: a workspace made ahead of time (a warm-pool member, a clone) has
 * other mtimes than the checkout, and an unchanged file then costs a checksum, not a copy. With
 * `deleteExtraneous`, files the directory does not have are deleted in the workspace — except ignored
 * paths (build caches there are neither sent nor deleted) and .git. Rejects with RSYNC_FAILED (or the
 * abort reason).
 */
export async function syncDirectory(
  target: PinnedTarget,
  source: string,
  opts: { deleteExtraneous: boolean; signal: AbortSignal },
): Promise<void> {
  const args = [
    "-az",
    "--checksum",
    // The whole file list first, not directory by directory: incremental recursion waits on the other
    // side between directories, a round trip each time — at 20 ms RTT a 2,000-file tree in 40 directories
    // synced in 349 ms with it and 274 ms without, in 400 directories 402 and 305 ms (loopback 191 and 160).
    // It costs memory for the list (~100 bytes a file on each side): ~10 MB for a 100,000-file tree.
    "--no-inc-recursive",
    // The remote path travels inside the rsync protocol, not through the remote shell.
    "-s",
    "--filter=:- .gitignore",
    "--exclude=.git",
    ...(opts.deleteExtraneous ? ["--delete"] : []),
    "-e",
    shellCommand(["ssh", ...target.sshOptions({ batch: true })]),
    "--",
    `${source.replace(/\/+$/, "")}/`,
    target.rsyncTarget(`${target.workspace}/`),
  ];
  if (opts.signal.aborted) throw abortReason(opts.signal);
  // Its own process group, so a stop reaches the ssh that rsync started too.
  const child = spawn("rsync", args, { stdio: ["ignore", "inherit", "inherit"], detached: true });
  let killTimer: NodeJS.Timeout | undefined;
  const killGroup = (sig: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, sig);
    } catch {
      // Already gone.
    }
  };
  const stop = () => {
    killGroup("SIGTERM");
    killTimer = setTimeout(() => killGroup("SIGKILL"), KILL_GRACE_MS);
  };
  opts.signal.addEventListener("abort", stop, { once: true });
  try {
    const code = await new Promise<number>((resolve, reject) => {
      child.once("error", (e) => reject(new CliError("RSYNC_MISSING", `Cannot run rsync: ${e.message} (install rsync)`, EXIT.FAILURE)));
      child.once("close", (c, s) => resolve(exitCodeOf(c, s)));
    });
    if (opts.signal.aborted) throw abortReason(opts.signal);
    if (code !== 0) {
      const hint = code === 255 || code === 12 ? " (the SSH connection failed: see ssh's message above)" : "";
      throw new CliError(
        "RSYNC_FAILED",
        `rsync to ${target.rsyncTarget(target.workspace)} failed with exit code ${code}${hint}`,
        EXIT.FAILURE,
      );
    }
  } finally {
    clearTimeout(killTimer);
    opts.signal.removeEventListener("abort", stop);
  }
}

/** An interactive login shell in the workspace; resolves with ssh's exit code. */
export async function interactiveShell(target: PinnedTarget): Promise<number> {
  const remote = `cd ${quoteArg(target.workspace)} && exec "\${SHELL:-/bin/sh}" -l`;
  const args = [...target.sshOptions({ batch: false }), "-t", target.destination, remote];
  // Ctrl-C belongs to the remote shell (ssh passes it through the pty); this process just waits.
  const ignore = () => {};
  process.on("SIGINT", ignore);
  try {
    const child = spawn("ssh", args, { stdio: "inherit" });
    return await new Promise<number>((resolve, reject) => {
      child.once("error", (e) =>
        reject(new CliError("SSH_MISSING", `Cannot run ssh: ${e.message} (install the OpenSSH client)`, EXIT.FAILURE)),
      );
      child.once("close", (c, s) => resolve(exitCodeOf(c, s)));
    });
  } finally {
    process.off("SIGINT", ignore);
  }
}
