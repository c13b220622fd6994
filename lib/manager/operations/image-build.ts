// The image_build operation: one `packer build -machine-readable` run (docs/images.md). One attempt,
// never retried on its own; lease, heartbeat, timeout (the manifest's) and cancel from the runtime.
// Packer runs as a child in its own process group that dies with this worker (setpriv --pdeathsig),
// in a per-build temporary directory, with the version sand-boxer assigned passed as a variable.
// A rebuild in place of a registered host goes through a local tunnel opened over sand-boxer's own
// SSH connection, verified against the pinned key; a changed key stops the build before Packer
// starts. Afterwards the host's marker must name the new version, and a new host key is handed to
// an admin to confirm. A failed build changes no host record.
import "server-only";

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { findHost, toHostTarget, updateHost } from "../../db/hosts";
import { appendBuildLog, findBuild, insertImageVersion, moveBuild, updateBuild } from "../../db/images";
import type { Prisma } from "../../db/client";
import { SandboxerError, hasCode } from "../../errors";
import { sshConfigForHost } from "../../extensions/remote/ssh-target";
import { cleanText, manifestArtifacts, parsePackerLine } from "../../images/packer-output";
import { openLocalTunnel, type LocalTunnel } from "../../images/ssh-tunnel";
import { withParentDeathSignal } from "../../ssh/ssh-options";
import { imageManifest } from "../images";
import { audit } from "../audit";
import type { ManagerContext } from "../context";
import { MAX_TEAM_PAYLOAD, publishTeamEvent, type BuildLogLine } from "../team-events";
import { reconcileHost } from "./reconcile";
import { failureMessage, stopKind, type OperationHandler } from "./runtime";

const KILL_GRACE_MS = 5_000;

/**
 * Publishes stored build log lines on the team stream as `build.log` notices, as many lines to a
 * notice as fit in its payload bound. A line is at most 2,000 characters, but JSON can write one
 * character as two (a quote, a backslash) or six (a control character): a line whose encoding alone
 * exceeds the bound goes out shortened, ending in "…" (the stored line stays whole).
 */
export async function publishBuildLines(
  ctx: Pick<ManagerContext, "db" | "notifier" | "logger">,
  buildId: string,
  lines: BuildLogLine[],
): Promise<void> {
  const budget = MAX_TEAM_PAYLOAD - JSON.stringify({ buildId, lines: [] }).length;
  let chunk: BuildLogLine[] = [];
  let size = 0;
  for (const stored of lines) {
    const { line, size: n } = fitLine(stored, budget);
    if (chunk.length > 0 && size + n > budget) {
      await publishTeamEvent(ctx, "build.log", { buildId, lines: chunk });
      chunk = [];
      size = 0;
    }
    chunk.push(line);
    size += n;
  }
  if (chunk.length > 0) await publishTeamEvent(ctx, "build.log", { buildId, lines: chunk });
}

/**
 * The line and its size in a notice (its JSON and a comma) when that fits in `budget`; else the longest
 * start of it that does, ending in "…". One encoding per line in the common case.
 */
function fitLine(line: BuildLogLine, budget: number): { line: BuildLogLine; size: number } {
  const sizeOf = (l: BuildLogLine) => JSON.stringify(l).length + 1;
  const size = sizeOf(line);
  if (size <= budget) return { line, size };
  // Whole code points (never half a surrogate pair); binary search for the longest prefix that fits.
  const chars = Array.from(line.message);
  const cut = (n: number) => ({ ...line, message: `${chars.slice(0, n).join("")}…` });
  let lo = 0;
  let hi = chars.length - 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (sizeOf(cut(mid)) <= budget) lo = mid;
    else hi = mid - 1;
  }
  const fitted = cut(lo);
  return { line: fitted, size: sizeOf(fitted) };
}

/**
 * Batches a build's log lines into the database (a line at a time would be a write per line) and onto
 * the team stream, where the build page follows them.
 */
class BuildLogWriter {
  private queue: { level: string; message: string }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  lastError: string[] = [];

  constructor(
    private readonly ctx: Pick<ManagerContext, "db" | "notifier" | "logger">,
    private readonly buildId: string,
  ) {}

  line(message: string, level: "info" | "warn" | "error" = "info"): void {
    for (const part of message.split("\n")) {
      const text = cleanText(part);
      if (!text.trim()) continue;
      this.queue.push({ level, message: text });
      if (level === "error") this.lastError = [...this.lastError, text].slice(-5);
    }
    this.timer ??= setTimeout(() => void this.flush(), 200);
  }

  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const lines = this.queue;
    this.queue = [];
    this.chain = this.chain
      .then(async () => {
        const rows = await appendBuildLog(this.ctx.db, this.buildId, lines);
        await publishBuildLines(
          this.ctx,
          this.buildId,
          rows.map((r) => ({ id: r.id, level: r.level, message: r.message, at: r.createdAt.toISOString() })),
        );
      })
      .catch((e: unknown) => this.ctx.logger.warn({ err: e, build: this.buildId }, "could not write build log lines"));
    return this.chain;
  }
}

interface PackerRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  artifacts: string[];
  errorCount: number;
}

function runPacker(
  packer: string,
  args: string[],
  cwd: string,
  log: BuildLogWriter,
  signal: AbortSignal,
  onStart: (pid: number) => void,
): Promise<PackerRun> {
  return new Promise((resolve, reject) => {
    const [file, argv] = withParentDeathSignal([packer, ...args], "KILL");
    const child = spawn(file, argv, {
      cwd,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        NODE_ENV: process.env.NODE_ENV,
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: cwd,
        TMPDIR: cwd,
        CHECKPOINT_DISABLE: "1",
        PACKER_CACHE_DIR: path.join(cwd, "packer_cache"),
        PACKER_NO_COLOR: "1",
      },
    });
    if (child.pid) onStart(child.pid);
    const artifacts: string[] = [];
    let errorCount = 0;
    let killTimer: NodeJS.Timeout | undefined;
    const killGroup = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, sig);
      } catch {
        // gone already
      }
    };
    const onAbort = () => {
      log.line("Stopping Packer", "warn");
      killGroup("SIGTERM");
      killTimer = setTimeout(() => killGroup("SIGKILL"), KILL_GRACE_MS);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    let rest = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop() ?? "";
      for (const l of lines) {
        const ev = parsePackerLine(l);
        if (!ev || ev.kind === "other") continue;
        if (ev.artifactId) artifacts.push(ev.artifactId);
        if (ev.errorCount !== undefined) errorCount = ev.errorCount;
        log.line(ev.message, ev.level);
      }
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => log.line(chunk, "warn"));
    child.once("error", (e) => {
      signal.removeEventListener("abort", onAbort);
      reject(new SandboxerError("BUILD_FAILED", `could not run ${packer}: ${e.message} (install Packer, see docs/images.md)`));
    });
    child.once("close", (code, sig) => {
      clearTimeout(killTimer);
      signal.removeEventListener("abort", onAbort);
      if (rest) {
        const ev = parsePackerLine(rest);
        if (ev && ev.kind === "log") log.line(ev.message, ev.level);
      }
      resolve({ code, signal: sig, artifacts, errorCount });
    });
  });
}

/** Where the VM's own sshd is, as the VM sees it: 22 behind a reverse tunnel, else its address and port. */
function sshdOnVm(host: { address: string; port: number; tunnelPort: number | null }): { host: string; port: number } {
  if (host.tunnelPort) return { host: "127.0.0.1", port: 22 };
  return { host: /^127\.|^::1$|^localhost$/.test(host.address) ? host.address : "127.0.0.1", port: host.port };
}

export const runImageBuild: OperationHandler = async (ctx, run) => {
  const buildId = String((run.op.payload as { buildId?: unknown } | null)?.buildId ?? "");
  const build = await findBuild(ctx.db, buildId);
  if (!build || build.state !== "queued") {
    await run.finish({ state: "cancelled", error: `Build ${buildId} is ${build?.state ?? "gone"}` });
    return;
  }
  const end = async (state: "succeeded" | "failed" | "cancelled", error: string | null, extra: Prisma.ImageBuildUpdateInput = {}) => {
    await moveBuild(ctx.db, buildId, ["queued", "running"], { state, error, finishedAt: new Date(), ...extra });
    await publishTeamEvent(ctx, "build.changed", { buildId, state });
    await run.finish(
      state === "succeeded" ? { state } : { state, errorCode: state === "failed" ? "BUILD_FAILED" : undefined, error: error ?? undefined },
    );
  };
  if (run.op.attempt > 1) {
    await end("failed", "The worker running this build stopped responding; builds are never retried on their own: start a new one");
    return;
  }
  if (!(await moveBuild(ctx.db, buildId, ["queued"], { state: "running", startedAt: new Date() }))) {
    await run.finish({ state: "cancelled", error: "Build cancelled before it started" });
    return;
  }
  await publishTeamEvent(ctx, "build.changed", { buildId, state: "running" });
  const log = new BuildLogWriter(ctx, buildId);
  let tmp: string | null = null;
  let tunnel: LocalTunnel | null = null;
  // A tunnel that cannot reach the VM's sshd stops the build at once (Packer would retry for minutes).
  const tunnelBroken = new AbortController();
  try {
    const manifest = imageManifest(ctx, build.image);
    const template = await readFile(manifest.templatePath);
    const templateHash = createHash("sha256").update(template).digest("hex");
    tmp = await mkdtemp(path.join(os.tmpdir(), "sandboxer-build-"));
    const vars: Record<string, string> = {
      ...manifest.variables,
      image_name: manifest.name,
      image_version: build.version,
      marker_path: manifest.markerPath,
    };
    log.line(`Building ${manifest.name} ${build.version} from ${manifest.template} (sha256 ${templateHash.slice(0, 12)}…)`);

    const host = build.hostId ? await findHost(ctx.db, build.hostId) : null;
    if (build.hostId && !host) throw new SandboxerError("NOT_FOUND", `Host ${build.hostId} is no longer registered`);
    if (host) {
      if (!ctx.ssh) throw new SandboxerError("BUILD_FAILED", "This server has no SSH configuration");
      const config = sshConfigForHost(ctx.ssh, toHostTarget(host));
      const trusted =
        "pinnedFingerprint" in config.trust
          ? `the pinned host key ${config.trust.pinnedFingerprint}`
          : `the host keys in ${config.trust.knownHostsPath}`;
      log.line(`Connecting to ${host.title} (${host.address}:${host.port}) with ${trusted}`);
      try {
        await ctx.ssh.pool.verifiedHostKey(config, { signal: run.signal });
      } catch (e) {
        if (hasCode(e, "SSH_HOST_KEY_CHANGED")) {
          const offered = String((e.details as { offeredFingerprint?: string } | undefined)?.offeredFingerprint ?? "unknown");
          throw new SandboxerError(
            "BUILD_HOST_KEY_CHANGED",
            `${host.title} offered ${offered}, not the pinned ${host.hostKey}: the build stopped before Packer started (no provisioner ran)`,
            { details: { pinned: host.hostKey, offered } },
          );
        }
        throw e;
      }
      const identity = ctx.ssh.identityFor(host.id);
      if (!("privateKeyPath" in identity))
        throw new SandboxerError(
          "BUILD_FAILED",
          "Packer needs a private key file (SANDBOXER_SSH_IDENTITY or the host's identityFile), not an agent",
        );
      tunnel = await openLocalTunnel(ctx.ssh.pool, config, sshdOnVm(host), {
        signal: run.signal,
        onError: (m) => {
          log.line(m, "error");
          tunnelBroken.abort(new SandboxerError("BUILD_FAILED", m));
        },
      });
      log.line(`Packer's SSH goes through 127.0.0.1:${tunnel.port}, forwarded over the verified connection to ${host.title}`);
      Object.assign(vars, {
        marker_path: host.markerPath,
        ssh_host: "127.0.0.1",
        ssh_port: String(tunnel.port),
        ssh_username: host.user,
        ssh_private_key_file: identity.privateKeyPath,
      });
    }
    await updateBuild(ctx.db, buildId, { templateHash, variables: vars });
    const args = [
      "build",
      "-machine-readable",
      "-color=false",
      ...Object.entries(vars).flatMap(([k, v]) => ["-var", `${k}=${v}`]),
      manifest.templatePath,
    ];
    const result = await run.withTimeout(manifest.timeoutMs, "packer build", (signal) =>
      runPacker(ctx.config.packerPath, args, tmp!, log, AbortSignal.any([signal, tunnelBroken.signal]), (pid) =>
        log.line(`packer build started (pid ${pid})`),
      ),
    );
    if (run.signal.aborted) throw run.signal.reason;
    if (tunnelBroken.signal.aborted) throw tunnelBroken.signal.reason;
    if (result.code !== 0 || result.errorCount > 0) {
      const why = log.lastError.at(-1) ?? (result.code === null ? `killed by ${result.signal ?? "a signal"}` : `exit code ${result.code}`);
      throw new SandboxerError("BUILD_FAILED", `packer build failed: ${why}`);
    }
    const manifestFile = path.join(tmp, "manifest.json");
    const fromManifest = existsSync(manifestFile)
      ? manifestArtifacts(JSON.parse(await readFile(manifestFile, "utf8")))
      : { artifacts: [], runUuid: null };
    const artifacts = fromManifest.artifacts.length ? fromManifest.artifacts : result.artifacts;
    log.line(`Artifacts: ${artifacts.join(", ") || "none reported"}`);

    let offeredHostKey: string | null = null;
    if (host) {
      // The marker the build wrote must name the version we assigned; a new host key waits for an admin.
      // Connections made before the build verified the key the VM had then: the check connects afresh.
      await tunnel?.close();
      tunnel = null;
      ctx.ssh?.pool.forgetConnections({ host: host.address, port: host.port });
      const summary = await run.withTimeout(60_000, "post-build check", (signal) => reconcileHost(ctx, host.id, signal));
      log.line(`Health check after the build: ${summary}`);
      const after = await findHost(ctx.db, host.id);
      if (after?.health === "key_changed" && after.offeredHostKey) {
        // Expected of a rebuild: the new key goes to an admin to confirm against the VM (as after an add),
        // not left as a `key_changed` alarm; nothing is trusted and no sandbox goes there meanwhile.
        offeredHostKey = after.offeredHostKey;
        await updateHost(ctx.db, host.id, {
          health: "unconfirmed",
          offeredHostKey,
          healthDetail: `Rebuilt in place by build ${buildId} (${manifest.name} ${build.version}): waiting for an admin to confirm its new host key`,
        });
        await audit(ctx, {
          actor: { kind: "system", label: `image build ${buildId}` },
          action: "host.rebuilt_key",
          target: host.id,
          result: "ok",
          message: `${host.id}: rebuilt by ${buildId}; it offers ${offeredHostKey} (pinned ${host.hostKey}); waiting for an admin to confirm it`,
          data: { build: buildId, pinned: host.hostKey, offered: offeredHostKey },
        });
        await publishTeamEvent(ctx, "host.changed", { hostId: host.id });
        log.line(
          `${host.title} now offers the host key ${offeredHostKey}: an admin must confirm it (Hosts page, or sandboxer host confirm-key) before sandboxes go there`,
          "warn",
        );
      } else if (after?.imageName !== manifest.name || after?.imageVersion !== build.version) {
        throw new SandboxerError(
          "MARKER_MISMATCH",
          `after the build, ${host.title}'s marker ${host.markerPath} names ${after?.imageName ?? "nothing"} ${after?.imageVersion ?? ""}, not ${manifest.name} ${build.version}`.trim(),
        );
      }
    }
    await insertImageVersion(ctx.db, {
      id: `${manifest.name}@${build.version}`,
      image: manifest.name,
      version: build.version,
      templateHash,
      variables: Object.fromEntries(Object.entries(vars).filter(([k]) => !k.startsWith("ssh_"))),
      artifacts,
      buildId,
      createdBy: build.actorLabel,
    });
    log.line(`${manifest.name} ${build.version} built`);
    await log.flush();
    await end("succeeded", null, { artifacts, offeredHostKey });
  } catch (e) {
    const kind = stopKind(run.signal, e);
    if (kind === "lease-lost") return;
    const message =
      kind === "cancelled"
        ? "Cancelled by an admin; Packer was stopped"
        : kind === "shutdown"
          ? "The worker shut down during the build; start a new one"
          : failureMessage(e);
    log.line(message, "error");
    await log.flush();
    await end(kind === "cancelled" ? "cancelled" : "failed", message);
  } finally {
    await tunnel?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
};
