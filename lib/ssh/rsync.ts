// Copies a local directory into a remote one with the system rsync over the OpenSSH client. The
// OpenSSH client is configured here from nothing (`-F /dev/null`): the identity from the SshConfig,
// and a throwaway known_hosts holding exactly the host key the pool has already verified for this
// target, with StrictHostKeyChecking=yes, so rsync can never trust a key ssh2 would have refused.
// Its handshake takes one of the pool's per-host handshake slots, so bursts of creates stay under
// the VM's MaxStartups. rsync runs from an argv (never a shell string); its `-e` value, which rsync
// splits itself, is built with quoteArg, and the remote path travels inside the rsync protocol
// (`-s`), not through the remote shell.
import "server-only";

import { mkdtemp, open, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";

import { AbortedError, ValidationError, hasCode, throwIfAborted } from "@/lib/errors";

import { agentSocketFor, passphraseFor } from "./ssh-auth";
import { describeTarget, parseSshConfig, type SshConfig } from "./ssh-config";
import { SshError, hostPort, lastLines } from "./errors";
import { fingerprintOfKey, keyTypeOfBlob, knownHostsLine } from "./host-keys";
import { SSH_OPTION_PATH_RULE, pinnedKeyOptions, sshOptionPath, withParentDeathSignal } from "./ssh-options";
import { spawnTransfer } from "./spawner";
import type { SshPool } from "./pool";
import { shellCommand } from "./shell-quote";
import { ownedTempPrefix } from "./temp-dirs";
import { acquireMasterSession, type MasterSession } from "./ssh-master";
import { validateRemotePath } from "./workspace-path";

export interface RsyncToRemoteOptions {
  config: SshConfig;
  pool: SshPool;
  /** Local directory; its contents land in `destination` (rsync's `src/ dst`). */
  source: string;
  /** Absolute remote directory (usually `<root>/sbx-<id>` from remoteWorkspacePath). */
  destination: string;
  /** rsync `--exclude` patterns. */
  excludes?: string[];
  /** `--delete`: remove remote files that are not in the source. */
  deleteExtraneous?: boolean;
  /** Honour `.gitignore` files in the source tree (`--filter=:- .gitignore`). */
  filterGitignore?: boolean;
  signal?: AbortSignal;
  /** Whole operation: host-key lookup, waiting for a handshake slot, and the transfer. */
  timeoutMs: number;
  /** Batched progress lines (a few per second at most) and one final summary line. */
  onProgress?: (line: string) => void;
  progressIntervalMs?: number;
  /** OpenSSH ConnectTimeout, seconds. Default 15. */
  connectTimeoutSeconds?: number;
  /** The verified host key blob to trust; by default the pool's (`pool.verifiedHostKey(config)`). */
  hostKey?: Buffer;
  /** Where the temporary known_hosts goes. Default os.tmpdir(). */
  tempDir?: string;
  /** Share one OpenSSH master connection per host between rsyncs (default true). */
  multiplex?: boolean;
}

export interface RsyncResult {
  /** Entries in the source (files, directories, links). */
  files: number;
  filesTransferred: number;
  totalBytes: number;
  bytesTransferred: number;
  durationMs: number;
}

const KILL_GRACE_MS = 2_000;
const STDERR_KEEP = 64 * 1024;

// rsync(1) EXIT VALUES, worded for the person reading the error.
const EXIT_MEANINGS: Record<number, string> = {
  1: "syntax or usage error",
  2: "protocol incompatibility",
  3: "errors selecting input/output files or directories",
  4: "requested action not supported",
  5: "error starting the client-server protocol (is rsync installed on the VM?)",
  6: "daemon unable to append to log file",
  10: "error in socket I/O",
  11: "error in file I/O (disk full, or a permission problem on the VM?)",
  12: "error in the rsync protocol data stream (the SSH connection failed or dropped, or the remote shell printed output)",
  13: "errors with program diagnostics",
  14: "error in IPC code",
  20: "received SIGUSR1 or SIGINT",
  21: "some error returned by waitpid()",
  22: "error allocating core memory buffers",
  23: "partial transfer due to error (some files could not be copied)",
  24: "partial transfer due to vanished source files",
  25: "the --max-delete limit stopped deletions",
  30: "timeout in data send/receive",
  35: "timeout waiting for daemon connection",
  127: "rsync (or ssh) is not installed on the sand-boxer server",
  255: "the SSH connection failed (unreachable host, refused host key or authentication)",
};

// ssh's VERBOSE lines we ask for to detect authentication; not news for an error message.
const SSH_CHATTER = /^(Authenticated to |Transferred: sent |Bytes per second: )/;

/** sshOptionPath, or a ValidationError naming `field`. */
function optionPath(p: string, field: string): string {
  const quoted = sshOptionPath(p);
  if (quoted === null) {
    throw new ValidationError(`${field} ${JSON.stringify(p)} cannot be passed to ssh`, { [field]: [`must be ${SSH_OPTION_PATH_RULE}`] });
  }
  return quoted;
}

/** The end of rsync's stdout file is enough: the latest progress line, or the --stats block. */
const PROGRESS_TAIL_BYTES = 1024;
const STATS_TAIL_BYTES = 16 * 1024;

/** The last `bytes` of a file as text ("" when it cannot be read). */
async function readTail(file: string, bytes: number): Promise<string> {
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(file, "r");
    const { size } = await fh.stat();
    const length = Math.min(size, bytes);
    const buf = Buffer.alloc(length);
    await fh.read(buf, 0, length, size - length);
    return buf.toString("utf8");
  } catch {
    return "";
  } finally {
    await fh?.close();
  }
}

/** The newest complete progress2 line ("1,234  56%  1.2MB/s  0:00:01 (xfr#3, to-chk=0/4)"). */
export function lastProgressLine(tail: string): string | null {
  const lines = tail.split(/[\r\n]/);
  lines.pop(); // possibly incomplete
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (/^\d[\d,]*\s+\d+%/.test(line)) return line;
  }
  return null;
}

/** The --stats lines ("Number of files: 2,001 (reg: 2,000, dir: 1)") by name. */
export function parseStats(text: string): Map<string, string> {
  const stats = new Map<string, string>();
  for (const raw of text.split(/[\r\n]/)) {
    const stat = /^([A-Za-z][A-Za-z /]+?): ([\d,.]+)/.exec(raw.trim());
    if (stat) stats.set(stat[1]!, stat[2]!);
  }
  return stats;
}

function toInt(s: string | undefined): number {
  return s === undefined ? 0 : Number(s.replace(/,/g, ""));
}

/** Keeps the newest progress line and hands it out at most once per interval. */
class ProgressBatcher {
  private latest: string | undefined;
  private sent: string | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  constructor(
    private readonly sink: ((line: string) => void) | undefined,
    intervalMs: number,
  ) {
    if (sink) this.timer = setInterval(() => this.flush(), intervalMs);
  }
  offer(line: string): void {
    this.latest = line;
  }
  flush(): void {
    if (!this.sink || this.latest === undefined || this.latest === this.sent) return;
    this.sent = this.latest;
    this.emit(this.latest);
  }
  emit(line: string): void {
    try {
      this.sink?.(line);
    } catch {
      // A failing log sink must not fail the transfer.
    }
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

/**
 * Syncs `source` into `destination` on the target. Resolves with file and byte counts; rejects with
 * RSYNC_FAILED (exit code meaning + last stderr lines), SSH_EXEC_TIMEOUT, AbortedError, or the
 * pool's host-key/connection errors. Timeout and abort stop rsync and its ssh (SIGTERM, then
 * SIGKILL); the temporary known_hosts is always removed.
 */
export async function rsyncToRemote(opts: RsyncToRemoteOptions): Promise<RsyncResult> {
  const started = Date.now();
  const cfg = parseSshConfig(opts.config);
  const where = describeTarget(cfg);
  if (!Number.isFinite(opts.timeoutMs) || opts.timeoutMs <= 0) {
    throw new ValidationError("rsync needs a positive timeoutMs", { timeoutMs: ["must be a positive number"] });
  }
  const destination = validateRemotePath(opts.destination, "destination");
  const source = path.resolve(opts.source);
  const sourceStat = await stat(source).catch(() => undefined);
  if (!sourceStat?.isDirectory()) {
    throw new ValidationError(`rsync source ${source} is not a directory`, {
      source: ["must be an existing local directory"],
    });
  }
  for (const ex of opts.excludes ?? []) {
    if (typeof ex !== "string" || ex.length === 0 || /[\0\n\r]/.test(ex)) {
      throw new ValidationError(`invalid exclude pattern ${JSON.stringify(ex)}`, {
        excludes: ["must be non-empty, single-line"],
      });
    }
  }
  const connectTimeout = opts.connectTimeoutSeconds ?? 15;
  throwIfAborted(opts.signal);

  // One controller for the whole operation: the caller's abort and our deadline both end it.
  const controller = new AbortController();
  const timeoutError = new SshError(
    "SSH_EXEC_TIMEOUT",
    `rsync to ${where}:${destination} did not finish within ${opts.timeoutMs} ms; it was stopped`,
    { details: { destination, timeoutMs: opts.timeoutMs } },
  );
  const deadline = setTimeout(() => controller.abort(timeoutError), opts.timeoutMs);
  const onCallerAbort = (): void => {
    const reason: unknown = opts.signal?.reason;
    controller.abort(hasCode(reason, "ABORTED") ? reason : new AbortedError(`rsync to ${where} was cancelled`));
  };
  opts.signal?.addEventListener("abort", onCallerAbort, { once: true });
  const signal = controller.signal;

  let tmp: string | undefined;
  let releaseHandshake: (() => void) | undefined;
  let mux: MasterSession | null = null;
  try {
    const hostKey = opts.hostKey ?? (await opts.pool.verifiedHostKey(opts.config, { signal }));
    throwIfAborted(signal);
    const pinnedLine = knownHostsLine(cfg.host, cfg.port, hostKey);
    tmp = await mkdtemp(ownedTempPrefix("rsync", opts.tempDir)); // named after this process: swept if it dies (temp-dirs.ts)

    const env: NodeJS.ProcessEnv = {
      NODE_ENV: process.env.NODE_ENV,
      PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
      HOME: process.env.HOME ?? tmp,
      // Stable, parseable messages and numbers.
      LC_ALL: "C",
    };
    const sshArgv = ["ssh", "-F", "/dev/null", "-p", String(cfg.port)];
    let batchMode = "yes";
    if ("agent" in cfg.identity) {
      env.SSH_AUTH_SOCK = agentSocketFor(cfg.identity, where);
      sshArgv.push("-o", "IdentityFile=none", "-o", "IdentitiesOnly=no");
    } else {
      // `-i` is taken as one argv word but still `%`/`~`-expanded by ssh: same restrictions.
      optionPath(cfg.identity.privateKeyPath, "privateKeyPath");
      sshArgv.push("-i", cfg.identity.privateKeyPath, "-o", "IdentitiesOnly=yes");
      const passphrase = passphraseFor(cfg.identity);
      if (passphrase !== undefined) {
        // ssh reads passphrases only from a terminal or an askpass program; BatchMode would forbid
        // the latter. The program prints the passphrase from ssh's environment, never from a file.
        const askpass = path.join(tmp, "askpass");
        await writeFile(askpass, "#!/bin/sh\nprintf '%s\\n' \"$SBX_SSH_KEY_PASSPHRASE\"\n", { mode: 0o700 });
        env.SSH_ASKPASS = askpass;
        env.SSH_ASKPASS_REQUIRE = "force";
        env.SBX_SSH_KEY_PASSPHRASE = passphrase;
        batchMode = "no";
        sshArgv.push("-o", "NumberOfPasswordPrompts=1");
      }
    }
    const commonOptions = (khPath: string) => [
      ...pinnedKeyOptions(optionPath(khPath, "tempDir"), keyTypeOfBlob(hostKey)),
      `BatchMode=${batchMode}`,
      `ConnectTimeout=${connectTimeout}`,
      "ServerAliveInterval=15",
      "ServerAliveCountMax=3",
      "PasswordAuthentication=no",
      "KbdInteractiveAuthentication=no",
      "ForwardAgent=no",
      "ForwardX11=no",
      "ClearAllForwardings=yes",
      // VERBOSE prints "Authenticated to …", which is when this handshake stops counting.
      "LogLevel=VERBOSE",
    ];
    const withOptions = (khPath: string, extra: string[]) => {
      const argv = [...sshArgv];
      for (const o of [...commonOptions(khPath), ...extra]) argv.push("-o", o);
      return argv;
    };
    const remoteHost = cfg.host.includes(":") ? `[${cfg.host}]` : cfg.host;

    // Multiplex over the host's OpenSSH master (see ssh-master.ts) unless the key needs a passphrase
    // (its askpass program lives only as long as this call).
    const passphrase = "privateKeyPath" in cfg.identity && cfg.identity.passphraseEnv !== undefined;
    if (opts.multiplex !== false && !passphrase) {
      const identityKey = "agent" in cfg.identity ? `agent:${env.SSH_AUTH_SOCK ?? ""}` : cfg.identity.privateKeyPath;
      mux = await acquireMasterSession(
        opts.pool,
        {
          key: `${cfg.user}@${cfg.host}:${cfg.port}|${identityKey}|${fingerprintOfKey(hostKey)}`,
          knownHostsLine: pinnedLine,
          sshArgv: (khPath) => withOptions(khPath, []),
          destination: `${cfg.user}@${remoteHost}`,
          env,
          connectTimeoutMs: (connectTimeout + 1) * 1000,
          acquireHandshakeSlot: () => opts.pool.acquireHandshakeSlot(cfg, signal),
        },
        signal,
      );
    }
    let rsh: string[];
    if (mux) rsh = withOptions(mux.knownHostsPath, ["ControlMaster=no", `ControlPath=${optionPath(mux.socket, "tempDir")}`]);
    else {
      // A direct connection trusts the pinned key from a known_hosts file of its own.
      const knownHostsPath = path.join(tmp, "known_hosts");
      await writeFile(knownHostsPath, pinnedLine + "\n", { mode: 0o600 });
      rsh = withOptions(knownHostsPath, ["ControlMaster=no", "ControlPath=none"]);
    }
    const args = ["-az", "-s", "--no-human-readable", "--info=progress2", "--stats", "-e", shellCommand(rsh)];
    if (opts.deleteExtraneous) args.push("--delete");
    if (opts.filterGitignore) args.push("--filter=:- .gitignore");
    for (const ex of opts.excludes ?? []) args.push(`--exclude=${ex}`);
    args.push("--", `${source}/`, `${cfg.user}@${remoteHost}:${destination}`);

    // A multiplexed session does no handshake; a direct one counts against the host's bound.
    if (!mux) releaseHandshake = await opts.pool.acquireHandshakeSlot(cfg, signal);
    throwIfAborted(signal);
    return await runRsync({
      args,
      env,
      signal,
      outputFile: path.join(tmp, "output"),
      where: `${where}:${destination}`,
      hostPortName: hostPort(cfg.host, cfg.port),
      onAuthenticated: () => releaseHandshake?.(),
      handshakeHoldMs: (connectTimeout + 1) * 1000,
      onProgress: opts.onProgress,
      // Each progress line becomes a log event (a database write and a wake-up of every viewer):
      // one every two seconds is plenty for a person watching.
      progressIntervalMs: opts.progressIntervalMs ?? 2_000,
      started,
    });
  } catch (e) {
    if (signal.aborted && !hasCode(e, "RSYNC_FAILED")) {
      const reason: unknown = signal.reason;
      if (reason instanceof Error) throw reason;
    }
    throw e;
  } finally {
    releaseHandshake?.();
    mux?.release();
    clearTimeout(deadline);
    opts.signal?.removeEventListener("abort", onCallerAbort);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
}

interface RunRsyncInput {
  args: string[];
  /** rsync's stdout goes here (its progress is one write per file), read every progress interval and at the end. */
  outputFile: string;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  where: string;
  hostPortName: string;
  onAuthenticated: () => void;
  handshakeHoldMs: number;
  onProgress: ((line: string) => void) | undefined;
  progressIntervalMs: number;
  started: number;
}

function runRsync(input: RunRsyncInput): Promise<RsyncResult> {
  return new Promise<RsyncResult>((resolve, reject) => {
    // Own process group, so a stop reaches ssh too. Through setpriv --pdeathsig: if the worker itself
    // dies (SIGKILL, OOM), rsync dies with it instead of writing on into a workspace that the retry
    // has already cleaned up (it would even re-create it).
    const [file, args] = withParentDeathSignal(["rsync", ...input.args], "KILL");
    // Through the spawner (./spawner.ts): forking the server itself costs it far more than the spawn.
    // stdout into a file: read as it comes, rsync's per-file progress writes were thousands of wake-ups
    // per create; the file is looked at once per progress interval instead.
    const child = spawnTransfer(file, args, { env: input.env, detached: true, lowPriority: true, stdoutFile: input.outputFile });
    const progress = new ProgressBatcher(input.onProgress, input.progressIntervalMs);
    // Looked at twice per progress interval, so the line the batcher hands out is at most half an interval old.
    const progressPoll = input.onProgress
      ? setInterval(
          () => {
            void readTail(input.outputFile, PROGRESS_TAIL_BYTES).then((tail) => {
              const line = lastProgressLine(tail);
              if (line) progress.offer(`rsync ${input.where}: ${line}`);
            });
          },
          Math.max(100, input.progressIntervalMs / 2),
        )
      : undefined;
    let stderr = "";
    let killTimer: NodeJS.Timeout | undefined;
    let spawnError: Error | undefined;

    // If ssh never reports authentication (old client, odd LogLevel), stop holding the slot after
    // ConnectTimeout: by then the handshake has finished or failed.
    const holdTimer = setTimeout(input.onAuthenticated, input.handshakeHoldMs);

    const killGroup = (sig: NodeJS.Signals): void => {
      child.kill(sig, { group: true });
    };
    const onAbort = (): void => {
      killGroup("SIGTERM");
      killTimer = setTimeout(() => killGroup("SIGKILL"), KILL_GRACE_MS);
    };
    input.signal.addEventListener("abort", onAbort, { once: true });

    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_KEEP);
      if (/(^|\n)Authenticated to /.test(stderr)) input.onAuthenticated();
    });
    child.on("error", (e) => {
      spawnError = e;
    });
    child.on("close", async (code: number | null, sig: NodeJS.Signals | null) => {
      clearTimeout(holdTimer);
      clearTimeout(killTimer);
      clearInterval(progressPoll);
      const stats = parseStats(await readTail(input.outputFile, STATS_TAIL_BYTES));
      input.signal.removeEventListener("abort", onAbort);
      input.onAuthenticated();
      progress.stop();
      if (input.signal.aborted) {
        const reason: unknown = input.signal.reason;
        return reject(reason instanceof Error ? reason : new AbortedError(`rsync to ${input.where} was cancelled`));
      }
      if (spawnError) {
        return reject(
          new SshError("RSYNC_FAILED", `could not run rsync for ${input.where}: ${spawnError.message}`, {
            cause: spawnError,
          }),
        );
      }
      const meaningful = stderr
        .split("\n")
        .filter((l) => !SSH_CHATTER.test(l))
        .join("\n");
      if (code !== 0) {
        const meaning = code === null ? `killed by ${sig ?? "a signal"}` : (EXIT_MEANINGS[code] ?? "unknown error");
        const tail = lastLines(meaningful, 6);
        const hint = /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/.test(meaningful)
          ? ` The host key of ${input.hostPortName} is not the verified one; the connection was refused.`
          : "";
        return reject(
          new SshError(
            "RSYNC_FAILED",
            `rsync to ${input.where} failed with exit code ${code ?? "none"} (${meaning}).${hint}` +
              (tail ? `\n${tail}` : " rsync printed no further detail."),
            {
              details: { exitCode: code, signal: sig, meaning, stderrTail: lastLines(meaningful, 20) },
            },
          ),
        );
      }
      const result: RsyncResult = {
        files: toInt(stats.get("Number of files")),
        filesTransferred: toInt(stats.get("Number of regular files transferred")),
        totalBytes: toInt(stats.get("Total file size")),
        bytesTransferred: toInt(stats.get("Total transferred file size")),
        durationMs: Date.now() - input.started,
      };
      progress.flush();
      progress.emit(
        `rsync ${input.where}: done, ${result.files} files (${result.filesTransferred} transferred), ` +
          `${result.totalBytes} bytes (${result.bytesTransferred} transferred) in ${(result.durationMs / 1000).toFixed(2)} s`,
      );
      resolve(result);
    });
  });
}
