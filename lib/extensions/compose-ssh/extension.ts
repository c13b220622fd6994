// ext.compose-ssh: a sandbox is a docker compose project `sbx-<id>` on a remote docker host, run from
// a workspace `<root>/sbx-<id>` that holds its compose file(s) — given inline by the profile, or part of
// a repository rsynced from the sand-boxer server — and an env file for interpolation. Everything goes
// over the shared SSH path (lib/ssh, remote/ssh-target.ts): pinned host key, argv-quoted commands with
// timeouts and abort. Teardown is `docker compose down --volumes --remove-orphans` for that project,
// then the guarded removal of that workspace; the host and other projects are never touched.
import "server-only";

import { z } from "zod";

import { SandboxerError, hasCode, throwIfAborted, type ErrorCode } from "@/lib/errors";
import {
  describeTarget,
  lineSplitter,
  remoteFreeSpace,
  remoteWorkspaceState,
  removeRemoteWorkspace,
  shellCommand,
  tailLine,
  validateRemotePath,
  type ExecResult,
  type SshConfig,
} from "@/lib/ssh";
import { SANDBOX_ID_PATTERN, workspaceName } from "@/lib/sandbox-id";

import {
  SandboxExtension,
  type CheckContext,
  type CreateContext,
  type DestroyResult,
  type HandleSummary,
  type HostRequirement,
  type OperationContext,
  type Requirement,
  type SshServices,
  type StatusReport,
  type WorkspaceLocation,
} from "../base";
import {
  checkHostSelection,
  describeRemoteHandle,
  guardedWorkspacePath,
  hostRequirementOf,
  hostSelectionShape,
  localRepositorySchema,
  remoteHandleFor,
  remoteHandleShape,
  remoteWorkspaceOf,
  requireSsh,
  sshConfigFor,
  sshConfigForHost,
  sshRequirement,
  startRemoteWorkspace,
  syncCheckout,
  RemoteWorkspaceError,
} from "../remote/ssh-target";

/** The env file create writes beside the compose files (a dot name no inline compose file may take). */
export const ENV_FILE_NAME = ".sandboxer.env";
const MAX_COMPOSE_FILES = 8;
const MAX_COMPOSE_FILE_BYTES = 512 * 1024;
const MAX_ENV_VALUE_LENGTH = 4096;
// Status and destroy get no params, so their limits are fixed: `down` long enough for a slow stop
// (compose gives each container 10 s before SIGKILL), short enough to fit the manager's destroy timeout.
const DESTROY_DOWN_TIMEOUT_MS = 5 * 60_000;
const STEP_TIMEOUT_MS = 60_000;
// Compose's own interpolation keys are [A-Za-z0-9_.]; this is the subset every shell also accepts.
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const PRINTABLE = /^[\x20-\x7e]+$/;

// SSH runs one command string, never a cwd: this constant script enters "$1" and execs the rest of
// its argv, so every value stays a quoted argument (pool.exec quotes each one).
const IN_DIR = 'cd -- "$1" && shift && exec "$@"';
// Writes stdin to "$1" with umask "$2"; never overwrites or writes through an existing entry (a
// synced repository could carry a symlink with the env file's name).
const WRITE_FILE = `set -u
f=$1
if [ -e "$f" ] || [ -L "$f" ]; then echo "$f already exists; refusing to overwrite it" >&2; exit 73; fi
umask "$2"
set -C
cat > "$f"`;
// Prints the names among "$2…" that are not files under directory "$1".
const MISSING_FILES = `cd -- "$1" || exit 66
shift
for f; do [ -f "$f" ] || printf 'SBX:missing %s\\n' "$f"; done`;
const ROOT_WRITABLE = `if [ ! -d "$1" ]; then echo "$1 does not exist or is not a directory" >&2; exit 65; fi
if [ ! -w "$1" ] || [ ! -x "$1" ]; then echo "$1 is not writable by $(id -un)" >&2; exit 66; fi`;

/** Why `p` is not an acceptable path relative to the workspace, or null when it is. */
export function relativeFileProblem(p: string): string | null {
  if (p.length === 0) return "must not be empty";
  if (p.length > 300) return "must be at most 300 characters";
  if (!PRINTABLE.test(p)) return "must contain only printable ASCII characters";
  if (p.startsWith("/")) return "must be relative to the workspace (no leading /)";
  // `-f -x` would read as a flag to some parsers; nothing legitimate starts with a dash.
  if (p.startsWith("-")) return "must not start with -";
  const segments = p.split("/");
  if (segments.some((s) => s === "." || s === "..")) return "must not contain . or .. segments";
  if (segments.some((s) => s.trim() === "")) return "must not contain empty or blank segments (//, a trailing /)";
  return null;
}

const relativePath = z.string().superRefine((p, ctx) => {
  const problem = relativeFileProblem(p);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

const inlineName = relativePath.superRefine((name, ctx) => {
  if (name.includes("/")) ctx.addIssue({ code: "custom", message: "must be a file name, not a path" });
  if (name.startsWith(".")) ctx.addIssue({ code: "custom", message: "must not start with . (names starting with a dot are reserved)" });
});

/** Why an env value cannot be written literally to compose's env file, or null. */
export function envValueProblem(v: string): string | null {
  if (v.length > MAX_ENV_VALUE_LENGTH) return `must be at most ${MAX_ENV_VALUE_LENGTH} characters`;
  // Single-quoted env-file values are taken literally by compose, except that they end at the next
  // unescaped quote and may not span lines: those are the only characters refused.
  if (/[\0\n\r]/.test(v)) return "must be a single line";
  if (v.includes("'")) return "must not contain a single quote (compose's env-file format cannot carry it literally)";
  if (v.endsWith("\\")) return "must not end with a backslash (compose would read the closing quote as escaped)";
  return null;
}

const envValue = z
  .union([z.string(), z.number(), z.boolean()])
  .transform((v) => String(v))
  .superRefine((v, ctx) => {
    const problem = envValueProblem(v);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

const secondsSchema = (min: number, fallback: number) =>
  z
    .number()
    .int()
    .min(min)
    .max(24 * 3600)
    .default(fallback);

export const composeSshParamsSchema = z
  .strictObject({
    ...hostSelectionShape,
    /** Compose files given by the profile, written into the workspace and passed with `-f` in this order. */
    composeFiles: z
      .array(z.strictObject({ name: inlineName, content: z.string().min(1).max(MAX_COMPOSE_FILE_BYTES) }))
      .max(MAX_COMPOSE_FILES)
      .default([]),
    /** A checkout on the sand-boxer server, rsynced into the workspace (.gitignore respected). */
    repository: localRepositorySchema.nullable().default(null),
    /** Compose files inside the synced repository, relative to it; passed with `-f` before inline ones. */
    composeFilePaths: z.array(relativePath).max(MAX_COMPOSE_FILES).default([]),
    /** Variables for compose's interpolation (`${KEY}` in the compose files), via `--env-file`. */
    env: z
      .record(z.string().regex(ENV_KEY, { error: "must be a variable name: letters, digits and _, not starting with a digit" }), envValue)
      .default({}),
    /** Time limit of the repository sync, in seconds. */
    syncTimeoutSeconds: secondsSchema(5, 1800),
    /** Time limit of `docker compose up -d` (image pulls and builds included), in seconds. */
    upTimeoutSeconds: secondsSchema(5, 1200),
    /** Time limit of each short command (file writes, `ps`, `version`), in seconds. */
    commandTimeoutSeconds: secondsSchema(5, 60),
  })
  .superRefine((p, ctx) => {
    checkHostSelection(p, ctx);
    if (p.composeFiles.length + p.composeFilePaths.length === 0) {
      ctx.addIssue({
        code: "custom",
        message: "give the compose file(s): inline composeFiles, or composeFilePaths inside a repository",
        path: ["composeFiles"],
      });
    }
    if (p.composeFilePaths.length > 0 && !p.repository) {
      ctx.addIssue({
        code: "custom",
        message: "composeFilePaths are relative to a repository: set repository.path too",
        path: ["composeFilePaths"],
      });
    }
    if (p.composeFiles.length + p.composeFilePaths.length > MAX_COMPOSE_FILES) {
      ctx.addIssue({ code: "custom", message: `at most ${MAX_COMPOSE_FILES} compose files in all`, path: ["composeFiles"] });
    }
    const all = [...p.composeFilePaths, ...p.composeFiles.map((f) => f.name)];
    const dup = all.find((n, i) => all.indexOf(n) !== i);
    if (dup !== undefined)
      ctx.addIssue({ code: "custom", message: `compose file ${JSON.stringify(dup)} is given twice`, path: ["composeFiles"] });
  });

export type ComposeSshParams = z.infer<typeof composeSshParamsSchema>;

const PROJECT_PATTERN = new RegExp(`^sbx-${SANDBOX_ID_PATTERN.source.slice(1, -1)}$`);

export const composeSshHandleSchema = z.strictObject({
  ...remoteHandleShape,
  /** `sbx-<id>`: every compose command of this sandbox names it with `-p`. */
  compose_project: z.string().regex(PROJECT_PATTERN),
  /** The `-f` files, relative to the workspace, in order. */
  compose_files: z.array(relativePath).min(1).max(MAX_COMPOSE_FILES),
  /** The `--env-file`, relative to the workspace, or null when the profile sets no env. */
  compose_env_file: z.literal(ENV_FILE_NAME).nullable(),
  /** The services `ps` showed after `up` (status reports one that has since vanished). */
  compose_services: z.array(z.string().min(1)).optional(),
});
export type ComposeSshHandle = z.infer<typeof composeSshHandleSchema>;

/** Thrown when a compose step on the host fails: up, down, ps, placing the compose files. */
export class ComposeSshError extends SandboxerError {
  constructor(code: Extract<ErrorCode, `COMPOSE_${string}`>, message: string, details?: Record<string, unknown>) {
    super(code, message, { name: "ComposeSshError", details });
  }
}

// ─── `docker compose ps --format json` ───────────────────────────────────────────────────────────

const publisherSchema = z.object({
  URL: z.string().optional(),
  TargetPort: z.number(),
  PublishedPort: z.number(),
  Protocol: z.string().optional(),
});
const psEntrySchema = z.object({
  Name: z.string(),
  Service: z.string(),
  State: z.string(),
  Health: z.string().optional(),
  ExitCode: z.number().optional(),
  Publishers: z.array(publisherSchema).nullable().optional(),
});

export interface ComposeContainer {
  name: string;
  service: string;
  state: string;
  health: string;
  exitCode: number | null;
  /** Published ports only (PublishedPort > 0), e.g. "0.0.0.0:8080→80/tcp". */
  ports: string[];
}

/**
 * Parses `docker compose ps --format json`. Compose before 2.21 prints one JSON array; later versions
 * print one JSON object per line (and nothing for an empty project). Both are accepted.
 */
export function parseComposePs(stdout: string): ComposeContainer[] {
  const text = stdout.trim();
  if (text === "") return [];
  let items: unknown[];
  try {
    const whole: unknown = JSON.parse(text);
    items = Array.isArray(whole) ? whole : [whole];
  } catch {
    try {
      items = text
        .split("\n")
        .filter((l) => l.trim() !== "")
        .flatMap((l) => {
          const v: unknown = JSON.parse(l);
          return Array.isArray(v) ? (v as unknown[]) : [v];
        });
    } catch {
      throw new ComposeSshError("COMPOSE_PS_UNREADABLE", `docker compose ps printed something that is not JSON: ${tailLine(text, 2)}`);
    }
  }
  return items.map((item) => {
    const parsed = psEntrySchema.safeParse(item);
    if (!parsed.success) {
      throw new ComposeSshError(
        "COMPOSE_PS_UNREADABLE",
        `docker compose ps printed an entry without Name, Service or State: ${JSON.stringify(item).slice(0, 200)}`,
      );
    }
    const c = parsed.data;
    const ports = (c.Publishers ?? [])
      .filter((p) => p.PublishedPort > 0)
      .map(
        (p) =>
          `${p.URL?.includes(":") ? `[${p.URL}]` : (p.URL ?? "")}${p.URL ? ":" : ""}${p.PublishedPort}→${p.TargetPort}/${p.Protocol ?? "tcp"}`,
      );
    return {
      name: c.Name,
      service: c.Service,
      state: c.State,
      health: c.Health ?? "",
      exitCode: c.ExitCode ?? null,
      ports: [...new Set(ports)],
    };
  });
}

function isUp(c: ComposeContainer): boolean {
  return c.state === "running" && c.health !== "unhealthy";
}

function describeContainer(c: ComposeContainer): string {
  const state =
    c.state === "running"
      ? c.health
        ? `running (${c.health})`
        : "running"
      : c.state === "exited" && c.exitCode !== null
        ? `exited (exit code ${c.exitCode})`
        : c.state;
  return `${c.service} (${c.name}): ${state}${c.ports.length ? `; published ${c.ports.join(", ")}` : ""}`;
}

/** Per service: up when every one of its containers runs (and is not unhealthy). */
function serviceStates(containers: ComposeContainer[], expected: readonly string[] = []): { up: string[]; down: string[] } {
  const byService = new Map<string, ComposeContainer[]>();
  for (const s of expected) byService.set(s, []);
  for (const c of containers) byService.set(c.service, [...(byService.get(c.service) ?? []), c]);
  const up: string[] = [];
  const down: string[] = [];
  for (const [service, list] of [...byService].sort(([a], [b]) => a.localeCompare(b))) {
    if (list.length === 0) down.push(`${service} (no container)`);
    else if (list.every(isUp)) up.push(service);
    else
      down.push(
        list
          .filter((c) => !isUp(c))
          .map(describeContainer)
          .join(", "),
      );
  }
  return { up, down };
}

// ─── helpers ─────────────────────────────────────────────────────────────────────────────────────

function failureTail(r: ExecResult): string {
  return tailLine(r.stderr) || tailLine(r.stdout) || (r.code !== null ? `exit code ${r.code}` : `signal ${r.signal ?? "unknown"}`);
}

/** The argv of a compose command for this project (global flags first, as compose wants them). */
function composeArgv(project: string, files: readonly string[], envFile: string | null, sub: readonly string[]): string[] {
  const argv = ["docker", "compose", "-p", project];
  for (const f of files) argv.push("-f", f);
  if (envFile) argv.push("--env-file", envFile);
  return [...argv, ...sub];
}

/** Runs argv with `dir` as the working directory (see IN_DIR). */
function inDir(dir: string, argv: readonly string[]): string[] {
  return ["sh", "-c", IN_DIR, "sh", dir, ...argv];
}

/** Compose found by project label alone is run from `/`: compose also reads a compose file it finds in the working directory or above. */
const NEUTRAL_DIR = "/";

function envFileBody(env: Record<string, string>): string {
  const lines = Object.entries(env).map(([k, v]) => `${k}='${v}'`);
  return `# Written by sand-boxer for compose's interpolation; values are single-quoted, so taken literally.\n${lines.join("\n")}\n`;
}

/** The project name a handle may touch: exactly `sbx-<id>`, recomputed, like the workspace path. */
function guardedProject(handle: ComposeSshHandle, sandboxId: string): string {
  const expected = workspaceName(sandboxId);
  if (handle.compose_project !== expected) {
    throw new RemoteWorkspaceError(
      "HANDLE_INCONSISTENT",
      `The handle names compose project ${handle.compose_project}, not ${expected}; refusing to touch it`,
    );
  }
  return expected;
}

function where(handle: ComposeSshHandle): string {
  return `${handle.vm_target}:${handle.ssh_port}`;
}

type PsOutcome =
  | { kind: "listed"; containers: ComposeContainer[] }
  | { kind: "no-docker"; reason: string }
  | { kind: "failed"; reason: string };

export class ComposeSshExtension extends SandboxExtension<ComposeSshParams, ComposeSshHandle> {
  readonly paramsSchema = composeSshParamsSchema;
  readonly handleSchema = composeSshHandleSchema;

  override hostRequirement(params: ComposeSshParams): HostRequirement {
    return hostRequirementOf(params);
  }

  async check(ctx: CheckContext<ComposeSshParams>): Promise<Requirement[]> {
    const ssh = requireSsh(this.services);
    if (!ctx.host) return [{ name: "docker host", met: false, reason: "no registered host matches this profile (see hosts.yaml)" }];
    const config = sshConfigForHost(ssh, ctx.host);
    const root = ctx.params.workspaceRoot ?? ctx.host.workspaceRoot;
    const timeoutMs = ctx.params.commandTimeoutSeconds * 1000;
    const out: Requirement[] = [];
    const reachable = await sshRequirement(ssh, config, ctx.host, ctx.signal);
    out.push(reachable);
    if (!reachable.met) return out;
    let version: ExecResult | null = null;
    let versionError = "";
    try {
      version = await ssh.pool.exec(config, inDir(NEUTRAL_DIR, ["docker", "compose", "version"]), { timeoutMs, signal: ctx.signal });
    } catch (e) {
      versionError = (e as Error).message;
    }
    const on = `${ctx.host.address}:${ctx.host.port}`;
    if (!version) out.push({ name: "docker compose", met: false, reason: versionError });
    else if (version.code === 0)
      out.push({ name: "docker compose", met: true, reason: tailLine(version.stdout, 1) || "docker compose version succeeded" });
    else if (version.code === 127)
      out.push({ name: "docker compose", met: false, reason: `docker is not installed on ${on}, or not on ${ctx.host.user}'s PATH` });
    else {
      out.push({
        name: "docker compose",
        met: false,
        reason: `\`docker compose version\` failed on ${on}: ${failureTail(version)} (is the compose plugin installed, and may ${ctx.host.user} use docker?)`,
      });
    }
    try {
      const w = await ssh.pool.exec(config, ["sh", "-c", ROOT_WRITABLE, "sh", root], { timeoutMs, signal: ctx.signal });
      if (w.code !== 0) throw new Error(failureTail(w));
      const free = await remoteFreeSpace(ssh.pool, config, root, { signal: ctx.signal, timeoutMs });
      out.push({
        name: "workspace root",
        met: true,
        reason: `${root} is writable by ${ctx.host.user}; ${Math.round(free / 2 ** 20)} MiB free`,
      });
    } catch (e) {
      out.push({ name: "workspace root", met: false, reason: (e as Error).message });
    }
    return out;
  }

  async create(ctx: CreateContext<ComposeSshParams, ComposeSshHandle>): Promise<ComposeSshHandle> {
    const host = ctx.host;
    if (!host) throw new RemoteWorkspaceError("NO_HOST", "ext.compose-ssh needs a docker host; the manager gave none");
    const p = ctx.params;
    const root = p.workspaceRoot ?? host.workspaceRoot;
    const project = workspaceName(ctx.sandboxId);
    const handle: ComposeSshHandle = {
      ...remoteHandleFor(this.id, host, root, ctx.sandboxId),
      compose_project: project,
      compose_files: [...p.composeFilePaths, ...p.composeFiles.map((f) => f.name)],
      compose_env_file: Object.keys(p.env).length > 0 ? ENV_FILE_NAME : null,
    };
    // Intent first (startRemoteWorkspace records it): from here on a crash leaves a handle naming the project and the workspace.
    const commandTimeoutMs = p.commandTimeoutSeconds * 1000;
    const started = await startRemoteWorkspace(this.services, { ...ctx, host }, handle, { timeoutMs: commandTimeoutMs, mode: p.workspaceMode });
    const { ssh, config, workspace } = started;
    const target = `${host.address}:${host.port}`;

    if (p.repository) {
      await syncCheckout(started, p.repository, ctx, p.syncTimeoutSeconds * 1000);
      const missing = await this.missingFiles(ssh, config, workspace, p.composeFilePaths, {
        signal: ctx.signal,
        timeoutMs: commandTimeoutMs,
      });
      if (missing.length > 0) {
        throw new ComposeSshError(
          "COMPOSE_FILE_MISSING",
          `${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} not a file in the synced repository ${p.repository.path} (composeFilePaths are relative to it)`,
        );
      }
    }
    for (const file of p.composeFiles) {
      throwIfAborted(ctx.signal);
      ctx.log(`Writing compose file ${file.name} (${Buffer.byteLength(file.content)} bytes)`);
      await this.writeFile(ssh, config, `${workspace}/${file.name}`, file.content, "022", {
        signal: ctx.signal,
        timeoutMs: commandTimeoutMs,
      });
    }
    if (handle.compose_env_file) {
      throwIfAborted(ctx.signal);
      // Names only: values may be credentials.
      ctx.log(`Writing ${handle.compose_env_file} (${Object.keys(p.env).join(", ")}; readable by ${host.user} only)`);
      await this.writeFile(ssh, config, `${workspace}/${handle.compose_env_file}`, envFileBody(p.env), "077", {
        signal: ctx.signal,
        timeoutMs: commandTimeoutMs,
      });
    }

    throwIfAborted(ctx.signal);
    const up = composeArgv(project, handle.compose_files, handle.compose_env_file, ["up", "-d"]);
    ctx.log(`Starting compose project ${project} in ${workspace}: ${shellCommand(up)}`);
    const r = await this.runStreaming(
      ssh,
      config,
      inDir(workspace, up),
      ctx,
      p.upTimeoutSeconds * 1000,
      `docker compose up of project ${project}`,
      "(upTimeoutSeconds); it was stopped, and destroy removes whatever it had started",
    );
    if (r.code !== 0) {
      throw new ComposeSshError(
        "COMPOSE_UP_FAILED",
        `docker compose up of project ${project} failed on ${target} (${r.code !== null ? `exit ${r.code}` : `signal ${r.signal ?? "unknown"}`}): ${failureTail(r)}`,
        { exitCode: r.code },
      );
    }

    throwIfAborted(ctx.signal);
    const ps = await this.ps(ssh, config, project, { signal: ctx.signal, timeoutMs: commandTimeoutMs });
    if (ps.kind !== "listed") {
      ctx.log(`Could not list the services of ${project}: ${ps.reason}`, "warn");
      return handle;
    }
    for (const c of ps.containers) ctx.log(describeContainer(c), isUp(c) ? "info" : "warn");
    const services = [...new Set(ps.containers.map((c) => c.service))].sort();
    const { down } = serviceStates(ps.containers);
    ctx.log(
      down.length === 0
        ? `Compose project ${project} is up on ${target}: ${services.length} service${services.length === 1 ? "" : "s"} running (${services.join(", ")})`
        : `Compose project ${project} started, but not everything runs: ${down.join("; ")}`,
      down.length === 0 ? "info" : "warn",
    );
    const final: ComposeSshHandle = { ...handle, compose_services: services };
    await ctx.recordHandle(final);
    return final;
  }

  async status(handle: ComposeSshHandle, ctx: OperationContext): Promise<StatusReport> {
    const ssh = requireSsh(this.services);
    const workspace = guardedWorkspacePath(handle, ctx.sandboxId);
    const project = guardedProject(handle, ctx.sandboxId);
    try {
      const config = await sshConfigFor(ssh, handle);
      const ps = await this.ps(ssh, config, project, { signal: ctx.signal, timeoutMs: STEP_TIMEOUT_MS });
      if (ps.kind !== "listed")
        return { state: "unknown", detail: `could not list compose project ${project} on ${where(handle)}: ${ps.reason}` };
      const state = await remoteWorkspaceState(ssh.pool, config, handle.workspace_root, ctx.sandboxId, { signal: ctx.signal });
      const wsExists = state === "directory";
      const freeBytes = wsExists
        ? await remoteFreeSpace(ssh.pool, config, handle.workspace_root, { signal: ctx.signal }).catch(() => undefined)
        : undefined;
      if (ps.containers.length === 0) {
        if (state === "absent" || state === "root-missing") {
          return {
            state: "missing",
            detail: `compose project ${project} has no containers and ${workspace} does not exist on ${where(handle)}`,
          };
        }
        return {
          state: "degraded",
          detail: `compose project ${project} has no containers on ${where(handle)} (its workspace ${workspace} is still there)`,
          freeBytes,
        };
      }
      const { up, down } = serviceStates(ps.containers, handle.compose_services);
      const problems = [...down.map((d) => `not running: ${d}`)];
      if (!wsExists)
        problems.push(`${workspace} is ${state === "absent" || state === "root-missing" ? "gone" : `a ${state}, not a directory`}`);
      if (problems.length > 0)
        return {
          state: "degraded",
          detail: `compose project ${project} on ${where(handle)}: ${problems.join("; ")}${up.length ? `; running: ${up.join(", ")}` : ""}`,
          freeBytes,
        };
      const ports = ps.containers.flatMap((c) => c.ports.map((port) => `${c.service} ${port}`));
      return {
        state: "ready",
        detail: `compose project ${project} on ${where(handle)}: ${up.length} service${up.length === 1 ? "" : "s"} running (${up.join(", ")})${ports.length ? `; published ${ports.join(", ")}` : ""}`,
        freeBytes,
      };
    } catch (e) {
      return { state: "unknown", detail: (e as Error).message };
    }
  }

  async destroy(handle: ComposeSshHandle, ctx: OperationContext): Promise<DestroyResult> {
    const ssh = requireSsh(this.services);
    // Both names are recomputed from the sandbox id before any connection: a tampered handle stops here.
    const workspace = guardedWorkspacePath(handle, ctx.sandboxId);
    const project = guardedProject(handle, ctx.sandboxId);
    const config = await sshConfigFor(ssh, handle);
    const step = { signal: ctx.signal, timeoutMs: STEP_TIMEOUT_MS };

    const ps = await this.ps(ssh, config, project, step);
    let hadContainers: boolean;
    if (ps.kind === "no-docker") {
      // Without a docker CLI nothing of this project can run here (create's `up` could not have either).
      ctx.log(`${ps.reason}; nothing of compose project ${project} can be running there`, "warn");
      hadContainers = false;
    } else {
      if (ps.kind === "failed") ctx.log(`Could not list compose project ${project} (${ps.reason}); running down anyway`, "warn");
      // Unknown counts as "there was something": destroy may then say removed, never absent wrongly.
      hadContainers = ps.kind === "failed" || ps.containers.length > 0;
      throwIfAborted(ctx.signal);
      const state = await remoteWorkspaceState(ssh.pool, config, handle.workspace_root, ctx.sandboxId, step);
      // With its files compose also knows the project's declared volumes and networks; without them
      // (workspace gone, or create stopped before the files were placed) it finds the project by label.
      let argv = inDir(NEUTRAL_DIR, composeArgv(project, [], null, ["down", "--volumes", "--remove-orphans"]));
      if (state === "directory") {
        const wanted = handle.compose_env_file ? [...handle.compose_files, handle.compose_env_file] : handle.compose_files;
        const missing = await this.missingFiles(ssh, config, workspace, wanted, step);
        if (!handle.compose_files.some((f) => missing.includes(f))) {
          const envFile = handle.compose_env_file && !missing.includes(handle.compose_env_file) ? handle.compose_env_file : null;
          argv = inDir(workspace, composeArgv(project, handle.compose_files, envFile, ["down", "--volumes", "--remove-orphans"]));
        }
      }
      throwIfAborted(ctx.signal);
      ctx.log(`Stopping compose project ${project} on ${where(handle)} (containers, networks and volumes)`);
      const r = await this.runStreaming(
        ssh,
        config,
        argv,
        ctx,
        DESTROY_DOWN_TIMEOUT_MS,
        `docker compose down of project ${project}`,
        "(a fixed limit); its containers may still be running, so the workspace was kept: retry the destroy",
      );
      if (r.code !== 0) {
        // The workspace stays: its files are what a person (or the retry) needs to stop what still runs.
        throw new ComposeSshError(
          "COMPOSE_DOWN_FAILED",
          `docker compose down of project ${project} failed on ${where(handle)} (${r.code !== null ? `exit ${r.code}` : `signal ${r.signal ?? "unknown"}`}): ${failureTail(r)}. ` +
            `Its containers may still be running, so ${workspace} was kept; fix the cause on the host and retry the destroy.`,
          { exitCode: r.code },
        );
      }
    }

    throwIfAborted(ctx.signal);
    const removed = await removeRemoteWorkspace(ssh.pool, config, handle.workspace_root, ctx.sandboxId, {
      signal: ctx.signal,
      timeoutMs: 10 * 60_000,
    });
    const containers = ps.kind === "listed" ? `${ps.containers.length} container${ps.containers.length === 1 ? "" : "s"}` : "containers";
    const what = [
      hadContainers
        ? `Stopped and removed compose project ${project} (${containers}, volumes and networks)`
        : `Compose project ${project} had no containers`,
      removed.result === "removed" ? `removed ${workspace}` : `${workspace} was already gone`,
    ];
    return {
      result: hadContainers || removed.result === "removed" ? "removed" : "absent",
      detail: `${what.join("; ")} on ${where(handle)}`,
    };
  }

  override workspaceOf(handle: ComposeSshHandle): WorkspaceLocation {
    return remoteWorkspaceOf(handle);
  }

  describeHandle(handle: ComposeSshHandle): HandleSummary {
    return describeRemoteHandle(handle, [`docker compose project ${handle.compose_project} (containers and volumes) on ${where(handle)}`]);
  }

  // ─── steps ─────────────────────────────────────────────────────────────────────────────────────

  /** `ps --all`: stopped containers count too (plain `ps` hides them, and with them a degraded service). */
  private async ps(
    ssh: SshServices,
    config: SshConfig,
    project: string,
    opts: { signal: AbortSignal; timeoutMs: number },
  ): Promise<PsOutcome> {
    const r = await ssh.pool.exec(config, inDir(NEUTRAL_DIR, composeArgv(project, [], null, ["ps", "--all", "--format", "json"])), opts);
    if (r.code === 127) return { kind: "no-docker", reason: `docker is not installed on ${describeTarget(config)} (or not on its PATH)` };
    if (r.code !== 0) return { kind: "failed", reason: `docker compose ps exited ${r.code ?? r.signal}: ${failureTail(r)}` };
    try {
      return { kind: "listed", containers: parseComposePs(r.stdout) };
    } catch (e) {
      return { kind: "failed", reason: (e as Error).message };
    }
  }

  private async writeFile(
    ssh: SshServices,
    config: SshConfig,
    file: string,
    content: string,
    umask: "022" | "077",
    opts: { signal: AbortSignal; timeoutMs: number },
  ): Promise<void> {
    validateRemotePath(file, "file");
    // The content travels on stdin, never inside the command.
    const r = await ssh.pool.exec(config, ["sh", "-c", WRITE_FILE, "sh", file, umask], { ...opts, stdin: content });
    if (r.code !== 0) {
      throw new ComposeSshError("COMPOSE_FILE_WRITE_FAILED", `could not write ${file} on ${describeTarget(config)}: ${failureTail(r)}`);
    }
  }

  private async missingFiles(
    ssh: SshServices,
    config: SshConfig,
    dir: string,
    files: readonly string[],
    opts: { signal: AbortSignal; timeoutMs: number },
  ): Promise<string[]> {
    if (files.length === 0) return [];
    const r = await ssh.pool.exec(config, ["sh", "-c", MISSING_FILES, "sh", dir, ...files], opts);
    if (r.code !== 0)
      throw new ComposeSshError(
        "COMPOSE_FILE_CHECK_FAILED",
        `could not look for the compose files in ${dir} on ${describeTarget(config)}: ${failureTail(r)}`,
      );
    return r.stdout
      .split("\n")
      .filter((l) => l.startsWith("SBX:missing "))
      .map((l) => l.slice("SBX:missing ".length));
  }

  /** Runs argv with its output streamed, line by line, to the sandbox log; a timeout names the step, not `sh`. */
  private async runStreaming(
    ssh: SshServices,
    config: SshConfig,
    argv: string[],
    ctx: OperationContext,
    timeoutMs: number,
    what: string,
    onTimeout: string,
  ): Promise<ExecResult> {
    const out = lineSplitter((line) => ctx.log(line));
    const err = lineSplitter((line) => ctx.log(line));
    try {
      return await ssh.pool.exec(config, argv, {
        timeoutMs,
        signal: ctx.signal,
        onStdout: (c) => out.push(c),
        onStderr: (c) => err.push(c),
      });
    } catch (e) {
      if (hasCode(e, "SSH_EXEC_TIMEOUT")) {
        throw new ComposeSshError(
          "COMPOSE_TIMEOUT",
          `${what} did not finish within ${Math.round(timeoutMs / 1000)} s on ${describeTarget(config)} ${onTimeout}`,
        );
      }
      throw e;
    } finally {
      out.flush();
      err.flush();
    }
  }
}
