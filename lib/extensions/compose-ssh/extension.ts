// ext.compose-ssh: a sandbox is a docker compose project `sbx-<id>` on a remote docker host, run from
// a workspace `<root>/sbx-<id>` that holds its compose file(s) — given inline by the profile, or part of
// a repository rsynced from the sand-boxer server — and an env file for interpolation. Everything goes
// over the shared SSH path (lib/ssh, remote/ssh-target.ts): pinned host key, argv-quoted commands with
// timeouts and abort. Either compose command works: `docker compose` (v2) or `docker-compose` (v1),
// found by a probe (or named by the profile) and recorded in the handle. Status reads the containers
// labelled with the project (docker ps/inspect, the same for both). Teardown is `compose down
// --volumes --remove-orphans` when the compose files are there, then a sweep of whatever still carries
// the project's label (all of it when the files are gone), then the guarded removal of the workspace;
// the host and other projects are never touched. The pieces that talk to docker are in ./docker.ts.
import "server-only";

import { z } from "zod";

import { SandboxerError, hasCode, throwIfAborted, type ErrorCode } from "@/lib/errors";
import {
  describeTarget,
  lineSplitter,
  remoteFreeSpace,
  remoteWorkspacePath,
  remoteWorkspaceState,
  removeRemoteWorkspace,
  shellCommand,
  tailLine,
  validateRemotePath,
  type ExecResult,
  type SshConfig,
} from "@/lib/ssh";
import { SANDBOX_ID_PATTERN, WORKSPACE_PREFIX, isSandboxId, workspaceName } from "@/lib/sandbox-id";

import {
  SandboxExtension,
  type CheckContext,
  type CreateContext,
  type DestroyResult,
  type FoundWorkspace,
  type HandleSummary,
  type HostRequirement,
  type HostTarget,
  type ListWorkspacesContext,
  type OperationContext,
  type Requirement,
  type ServiceReport,
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
  listWorkspaceDirs,
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

import {
  COMPOSE_COMMANDS,
  LIST_CONTAINERS,
  LIST_PROJECTS,
  LIST_RESOURCES,
  LOG_TAIL,
  PROBE,
  REMOVE_BY_LABEL,
  InspectUnreadable,
  composeArgv,
  composeName,
  describeContainer,
  isFailed,
  isUp,
  orderLogLines,
  parseInspect,
  parseProbe,
  parseResources,
  stateWord,
  withDockerHost,
  type ComposeCommand,
  type ComposeContainer,
  type ProbeResult,
} from "./docker";

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
const DOCKER_HOST = /^(unix:\/\/\/|tcp:\/\/|ssh:\/\/)[\x21-\x7e]+$/;
// How many of a failed service's last log lines status reports.
const LOG_TAIL_LINES = 5;

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
    /** `docker compose` (v2), `docker-compose` (v1), or auto: v2 when the host has it, else v1. */
    composeCommand: z.enum(["auto", ...COMPOSE_COMMANDS]).default("auto"),
    /** The daemon to use, passed as DOCKER_HOST (e.g. unix:///run/user/1000/docker.sock); null: the host's default. */
    dockerHost: z
      .string()
      .max(300)
      .regex(DOCKER_HOST, { error: "must be unix:///path, tcp://host:port or ssh://[user@]host (no spaces)" })
      .nullable()
      .default(null),
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
  /** `sbx-<id>`: every compose command of this sandbox names it with `-p`, and its resources carry it as a label. */
  compose_project: z.string().regex(PROJECT_PATTERN),
  /** The `-f` files, relative to the workspace, in order (empty for an adopted project whose files are unknown). */
  compose_files: z.array(relativePath).max(MAX_COMPOSE_FILES),
  /** The `--env-file`, relative to the workspace, or null when the profile sets no env. */
  compose_env_file: z.literal(ENV_FILE_NAME).nullable(),
  /** The services found after `up` (status reports one that has since vanished). */
  compose_services: z.array(z.string().min(1)).optional(),
  /** The compose command the host had at create (absent in handles recorded before v1 support: v2). */
  compose_command: z.enum(COMPOSE_COMMANDS).optional(),
  /** DOCKER_HOST for every docker command of this sandbox; absent or null: the host's default daemon. */
  docker_host: z.string().regex(DOCKER_HOST).max(300).nullable().optional(),
});
export type ComposeSshHandle = z.infer<typeof composeSshHandleSchema>;

/** Thrown when a compose step on the host fails: up, down, listing, placing the compose files. */
export class ComposeSshError extends SandboxerError {
  constructor(code: Extract<ErrorCode, `COMPOSE_${string}`>, message: string, details?: Record<string, unknown>) {
    super(code, message, { name: "ComposeSshError", details });
  }
}

// ─── helpers ─────────────────────────────────────────────────────────────────────────────────────

function failureTail(r: ExecResult): string {
  return tailLine(r.stderr) || tailLine(r.stdout) || (r.code !== null ? `exit code ${r.code}` : `signal ${r.signal ?? "unknown"}`);
}

function exitOf(r: ExecResult): string {
  return r.code !== null ? `exit ${r.code}` : `signal ${r.signal ?? "unknown"}`;
}

/** Runs argv with `dir` as the working directory (see IN_DIR). */
function inDir(dir: string, argv: readonly string[]): string[] {
  return ["sh", "-c", IN_DIR, "sh", dir, ...argv];
}

/** A constant script with its arguments. */
function script(text: string, ...args: string[]): string[] {
  return ["sh", "-c", text, "sh", ...args];
}

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

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** Per service: up when every one of its containers is up. */
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

/** What a probe result means for a requirement line (met, and why). */
function probeRequirement(probe: ProbeResult | null, on: string, user: string, raw: string): Requirement {
  const name = "docker compose";
  if (!probe) return { name, met: false, reason: `could not read what docker offers on ${on}: ${tailLine(raw, 2) || "no output"}` };
  switch (probe.kind) {
    case "no-docker":
      return { name, met: false, reason: `docker is not installed on ${on}, or not on ${user}'s PATH` };
    case "engine-failed":
      return {
        name,
        met: false,
        reason: `the docker engine does not answer ${user} on ${on}: ${probe.reason} (is dockerd running, is ${user} in the docker group, or should the profile set dockerHost?)`,
      };
    case "no-compose":
      return {
        name,
        met: false,
        reason: `docker ${probe.engine} answers on ${on}, but no compose command works for ${user}: ${probe.reason} (install the compose plugin or docker-compose)`,
      };
    case "ok":
      return {
        name,
        met: true,
        reason: `${composeName(probe.command)} ${probe.version || ""}`.trim() + ` with docker engine ${probe.engine} on ${on}`,
      };
  }
}

type Step = { signal: AbortSignal; timeoutMs: number };

type ListOutcome =
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
    out.push(await this.composeRequirement(ssh, config, ctx.host, ctx.params, "full", { signal: ctx.signal, timeoutMs }));
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
    const ssh = requireSsh(this.services);
    const root = p.workspaceRoot ?? host.workspaceRoot;
    const project = workspaceName(ctx.sandboxId);
    const commandTimeoutMs = p.commandTimeoutSeconds * 1000;
    const target = `${host.address}:${host.port}`;

    // The pre-check, enforced: nothing is placed on a host where compose cannot run (read-only, so before the handle).
    const hostConfig = sshConfigForHost(ssh, host);
    const probe = await this.probe(ssh, hostConfig, p.dockerHost, p.composeCommand, "quick", {
      signal: ctx.signal,
      timeoutMs: commandTimeoutMs,
    });
    const requirement = probeRequirement(probe.result, target, host.user, probe.raw);
    if (!requirement.met || probe.result?.kind !== "ok") {
      throw new ComposeSshError(
        "COMPOSE_UNAVAILABLE",
        `Cannot create compose project ${project}: ${requirement.reason}. Nothing was created.`,
      );
    }
    const command = probe.result.command;
    ctx.log(`Using ${requirement.reason}${p.dockerHost ? ` (DOCKER_HOST=${p.dockerHost})` : ""}`);

    const handle: ComposeSshHandle = {
      ...remoteHandleFor(this.id, host, root, ctx.sandboxId),
      compose_project: project,
      compose_files: [...p.composeFilePaths, ...p.composeFiles.map((f) => f.name)],
      compose_env_file: Object.keys(p.env).length > 0 ? ENV_FILE_NAME : null,
      compose_command: command,
      docker_host: p.dockerHost,
    };
    // Intent first (startRemoteWorkspace records it): from here on a crash leaves a handle naming the project and the workspace.
    const started = await startRemoteWorkspace(this.services, { ...ctx, host }, handle, {
      timeoutMs: commandTimeoutMs,
      mode: p.workspaceMode,
    });
    const { config, workspace } = started;

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
    const up = composeArgv(command, project, handle.compose_files, handle.compose_env_file, ["up", "-d"]);
    ctx.log(`Starting compose project ${project} in ${workspace}: ${shellCommand(up)}`);
    const r = await this.runStreaming(
      ssh,
      config,
      withDockerHost(p.dockerHost, inDir(workspace, up)),
      ctx,
      p.upTimeoutSeconds * 1000,
      `${composeName(command)} up of project ${project}`,
      "(upTimeoutSeconds); it was stopped, and destroy removes whatever it had started",
    );
    if (r.code !== 0) {
      throw new ComposeSshError(
        "COMPOSE_UP_FAILED",
        `${composeName(command)} up of project ${project} failed on ${target} (${exitOf(r)}): ${failureTail(r)}`,
        { exitCode: r.code },
      );
    }

    throwIfAborted(ctx.signal);
    const listed = await this.listContainers(ssh, config, project, p.dockerHost, { signal: ctx.signal, timeoutMs: commandTimeoutMs });
    if (listed.kind !== "listed") {
      ctx.log(`Could not list the services of ${project}: ${listed.reason}`, "warn");
      return handle;
    }
    for (const c of listed.containers) {
      ctx.log(describeContainer(c), isUp(c) ? "info" : "warn");
      if (isFailed(c)) {
        const tail = await this.logTail(ssh, config, c, p.dockerHost, { signal: ctx.signal, timeoutMs: commandTimeoutMs });
        for (const line of tail) ctx.log(`  ${c.service}| ${line}`, "warn");
      }
    }
    const services = [...new Set(listed.containers.map((c) => c.service))].sort();
    const { down } = serviceStates(listed.containers);
    ctx.log(
      down.length === 0
        ? `Compose project ${project} is up on ${target}: ${plural(services.length, "service")} running (${services.join(", ")})`
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
    const step = { signal: ctx.signal, timeoutMs: STEP_TIMEOUT_MS };
    try {
      const config = await sshConfigFor(ssh, handle);
      const listed = await this.listContainers(ssh, config, project, handle.docker_host, step);
      if (listed.kind !== "listed")
        return { state: "unknown", detail: `could not list compose project ${project} on ${where(handle)}: ${listed.reason}` };
      const state = await remoteWorkspaceState(ssh.pool, config, handle.workspace_root, ctx.sandboxId, { signal: ctx.signal });
      const wsExists = state === "directory";
      const freeBytes = wsExists
        ? await remoteFreeSpace(ssh.pool, config, handle.workspace_root, { signal: ctx.signal }).catch(() => undefined)
        : undefined;
      if (listed.containers.length === 0) {
        if (state === "absent" || state === "root-missing") {
          return {
            state: "missing",
            detail: `compose project ${project} has no containers and ${workspace} does not exist on ${where(handle)}`,
            services: [],
          };
        }
        return {
          state: "degraded",
          detail: `compose project ${project} has no containers on ${where(handle)} (its workspace ${workspace} is still there)`,
          freeBytes,
          services: (handle.compose_services ?? []).map((name) => ({
            name,
            state: "no container",
            condition: "failed",
            health: null,
            ports: [],
          })),
        };
      }
      const services = await this.serviceReports(ssh, config, listed.containers, handle, step);
      const { up, down } = serviceStates(listed.containers, handle.compose_services);
      const problems = [...down.map((d) => `not running: ${d}`)];
      for (const s of services) if (s.logTail?.length) problems.push(`${s.name}'s last lines: ${s.logTail.join(" ⏎ ")}`);
      if (!wsExists)
        problems.push(`${workspace} is ${state === "absent" || state === "root-missing" ? "gone" : `a ${state}, not a directory`}`);
      if (problems.length > 0)
        return {
          state: "degraded",
          detail: `compose project ${project} on ${where(handle)}: ${problems.join("; ")}${up.length ? `; running: ${up.join(", ")}` : ""}`,
          freeBytes,
          services,
        };
      const ports = listed.containers.flatMap((c) => c.ports.map((port) => `${c.service} ${port}`));
      return {
        state: "ready",
        detail: `compose project ${project} on ${where(handle)}: ${plural(up.length, "service")} running (${up.join(", ")})${ports.length ? `; published ${ports.join(", ")}` : ""}`,
        freeBytes,
        services,
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
    const dockerHost = handle.docker_host ?? null;

    // Three read-only looks at once, on separate channels of one connection: the workspace, the compose
    // files in it, and what of the project exists — found by its label (works without compose, and
    // without its files).
    const wanted = handle.compose_env_file ? [...handle.compose_files, handle.compose_env_file] : handle.compose_files;
    const [state, missing, before] = await Promise.all([
      remoteWorkspaceState(ssh.pool, config, handle.workspace_root, ctx.sandboxId, step),
      wanted.length > 0 ? this.missingFiles(ssh, config, workspace, wanted, step).catch(() => null) : Promise.resolve(null),
      ssh.pool.exec(config, withDockerHost(dockerHost, script(LIST_RESOURCES, project)), step),
    ]);
    const wsPresent = state !== "absent" && state !== "root-missing";
    // What a failure message says about the workspace: only what is true.
    const keptNote = wsPresent ? `${workspace} was kept` : `${workspace} was already gone`;
    let removedSummary: string;
    let hadResources: boolean;
    if (before.code === 127) {
      // Without a docker CLI nothing of this project can run here (create's `up` could not have either).
      ctx.log(
        `docker is not installed on ${where(handle)} (or not on its PATH): nothing of compose project ${project} can be running there`,
        "warn",
      );
      hadResources = false;
      removedSummary = `No docker on ${where(handle)}, so nothing of compose project ${project} was running`;
    } else if (before.code !== 0) {
      throw new ComposeSshError(
        "COMPOSE_DOCKER_UNREACHABLE",
        `Could not list what is left of compose project ${project} on ${where(handle)} (${exitOf(before)}): ${failureTail(before)}. ` +
          `Nothing was removed and ${keptNote}; fix docker on the host (or the sandbox's dockerHost) and retry the destroy.`,
      );
    } else {
      const found = parseResources(before.stdout);
      hadResources = found.containers.length + found.networks.length + found.volumes.length > 0;
      removedSummary = `Compose project ${project} had nothing left (no container, network or volume)`;
      if (hadResources) {
        await this.downOrSweep(ssh, config, handle, ctx, workspace, project, state === "directory" ? missing : null, keptNote);
        removedSummary = `Stopped and removed compose project ${project} (${plural(found.containers.length, "container")}, ${plural(found.networks.length, "network")}, ${plural(found.volumes.length, "volume")})`;
      }
    }

    throwIfAborted(ctx.signal);
    const removed = wsPresent
      ? await removeRemoteWorkspace(ssh.pool, config, handle.workspace_root, ctx.sandboxId, { signal: ctx.signal, timeoutMs: 10 * 60_000 })
      : { result: "absent" as const };
    const what = [removedSummary, removed.result === "removed" ? `removed ${workspace}` : `${workspace} was already gone`];
    return {
      result: hadResources || removed.result === "removed" ? "removed" : "absent",
      detail: `${what.join("; ")} on ${where(handle)}`,
    };
  }

  override workspaceOf(handle: ComposeSshHandle): WorkspaceLocation {
    return remoteWorkspaceOf(handle);
  }

  /**
   * The compose projects named `sbx-<id>` on the host's default daemon (the build user's DOCKER_HOST,
   * if its environment sets one), each a specific claim: at its workspace directory when one of the
   * roots holds it, else at `<host root>/sbx-<id>` (a project whose workspace was removed by hand).
   * A host without docker has none.
   */
  override async listWorkspaces(ctx: ListWorkspacesContext): Promise<FoundWorkspace[]> {
    const ssh = requireSsh(this.services);
    const config = sshConfigForHost(ssh, ctx.host);
    const r = await ssh.pool.exec(config, script(LIST_PROJECTS), { signal: ctx.signal, timeoutMs: STEP_TIMEOUT_MS });
    if (r.code !== 0) return [];
    const ids = r.stdout
      .split("\n")
      .map((l) => l.trim())
      .filter((name) => name.startsWith(WORKSPACE_PREFIX) && isSandboxId(name.slice(WORKSPACE_PREFIX.length)))
      .map((name) => name.slice(WORKSPACE_PREFIX.length));
    if (ids.length === 0) return [];
    const dirs = await listWorkspaceDirs(ssh, ctx);
    return ids.map((id) => {
      const dir = dirs.find((d) => d.sandboxId === id);
      if (dir) return { ...dir, claim: "specific" as const };
      const path = remoteWorkspacePath(ctx.host.workspaceRoot, id);
      return { sandboxId: id, path, realPath: path, claim: "specific" as const };
    });
  }

  /**
   * A compose sandbox for an orphan project: its compose command and files as the host and the
   * project's labels tell (files only when compose ran them from the workspace), so destroy takes it
   * down like one this extension created — by label when the files are unknown.
   */
  override async adopt(found: FoundWorkspace, ctx: { host: HostTarget; signal: AbortSignal }): Promise<ComposeSshHandle | null> {
    if (!isSandboxId(found.sandboxId)) return null;
    const ssh = requireSsh(this.services);
    const config = sshConfigForHost(ssh, ctx.host);
    const root = found.path.slice(0, found.path.lastIndexOf("/")) || "/";
    const project = workspaceName(found.sandboxId);
    const workspace = remoteWorkspacePath(root, found.sandboxId);
    const step = { signal: ctx.signal, timeoutMs: STEP_TIMEOUT_MS };
    const probe = await this.probe(ssh, config, null, "auto", "quick", step);
    const listed = await this.listContainers(ssh, config, project, null, step);
    const containers = listed.kind === "listed" ? listed.containers : [];
    const fromWorkspace = containers.find((c) => c.workingDir === workspace || c.workingDir === found.realPath);
    const files = (fromWorkspace?.configFiles ?? []).map((f) =>
      f.startsWith(`${fromWorkspace!.workingDir}/`) ? f.slice(fromWorkspace!.workingDir!.length + 1) : f,
    );
    const usable = files.length > 0 && files.length <= MAX_COMPOSE_FILES && files.every((f) => relativeFileProblem(f) === null);
    return {
      ...remoteHandleFor(this.id, ctx.host, root, found.sandboxId),
      compose_project: project,
      compose_files: usable ? files : [],
      compose_env_file: null,
      compose_services: [...new Set(containers.map((c) => c.service))].sort(),
      ...(probe.result?.kind === "ok" ? { compose_command: probe.result.command } : {}),
      docker_host: null,
    };
  }

  describeHandle(handle: ComposeSshHandle): HandleSummary {
    const via = handle.compose_command ? composeName(handle.compose_command) : "docker compose";
    return describeRemoteHandle(handle, [
      `${via} project ${handle.compose_project} (containers, networks and volumes) on ${where(handle)}${handle.docker_host ? ` (DOCKER_HOST=${handle.docker_host})` : ""}`,
    ]);
  }

  // ─── steps ─────────────────────────────────────────────────────────────────────────────────────

  private async probe(
    ssh: SshServices,
    config: SshConfig,
    dockerHost: string | null,
    want: "auto" | ComposeCommand,
    depth: "quick" | "full",
    opts: Step,
  ): Promise<{ result: ProbeResult | null; raw: string }> {
    const r = await ssh.pool.exec(config, withDockerHost(dockerHost, script(PROBE, want, depth)), opts);
    return { result: r.code === 0 ? parseProbe(r.stdout) : null, raw: `${r.stdout}\n${r.stderr}` };
  }

  private async composeRequirement(
    ssh: SshServices,
    config: SshConfig,
    host: HostTarget,
    params: ComposeSshParams,
    depth: "quick" | "full",
    opts: Step,
  ): Promise<Requirement> {
    try {
      const probe = await this.probe(ssh, config, params.dockerHost, params.composeCommand, depth, opts);
      return probeRequirement(probe.result, `${host.address}:${host.port}`, host.user, probe.raw);
    } catch (e) {
      return { name: "docker compose", met: false, reason: (e as Error).message };
    }
  }

  /**
   * Takes the project down: `compose down --volumes --remove-orphans` from the workspace when its
   * compose files are all there, then the label sweep (everything, when they are not). Throws with an
   * honest message when something of the project could not be removed.
   */
  private async downOrSweep(
    ssh: SshServices,
    config: SshConfig,
    handle: ComposeSshHandle,
    ctx: OperationContext,
    workspace: string,
    project: string,
    /** The handle's files missing from the workspace, or null when it is not a directory (or could not be looked at). */
    missing: string[] | null,
    keptNote: string,
  ): Promise<void> {
    const dockerHost = handle.docker_host ?? null;
    const command = handle.compose_command ?? "v2";
    const filesThere = missing !== null && handle.compose_files.length > 0 && !handle.compose_files.some((f) => missing.includes(f));
    const envFile = filesThere && handle.compose_env_file && !missing.includes(handle.compose_env_file) ? handle.compose_env_file : null;
    if (filesThere) {
      throwIfAborted(ctx.signal);
      ctx.log(
        `Stopping compose project ${project} on ${where(handle)} with ${composeName(command)} down (containers, networks and volumes)`,
      );
      const down = composeArgv(command, project, handle.compose_files, envFile, ["down", "--volumes", "--remove-orphans"]);
      const r = await this.runStreaming(
        ssh,
        config,
        withDockerHost(dockerHost, inDir(workspace, down)),
        ctx,
        DESTROY_DOWN_TIMEOUT_MS,
        `${composeName(command)} down of project ${project}`,
        `(a fixed limit); its containers may still be running, so ${keptNote}: retry the destroy`,
      );
      if (r.code !== 0) {
        // A host that lost its compose command since create: the label sweep below still removes everything.
        const composeGone = r.code === 127 || /unknown command: docker compose|'compose' is not a docker command/i.test(r.stderr);
        if (!composeGone) {
          throw new ComposeSshError(
            "COMPOSE_DOWN_FAILED",
            `${composeName(command)} down of project ${project} failed on ${where(handle)} (${exitOf(r)}): ${failureTail(r)}. ` +
              `Its containers may still be running, so ${keptNote}; fix the cause on the host and retry the destroy.`,
            { exitCode: r.code },
          );
        }
        ctx.log(`${composeName(command)} is no longer available on ${where(handle)}; removing the project's resources by label`, "warn");
      }
    } else {
      ctx.log(
        `The compose files of ${project} are not in ${workspace}; removing its containers, networks and volumes by the label ${project}`,
      );
    }
    throwIfAborted(ctx.signal);
    const swept = await ssh.pool.exec(config, withDockerHost(dockerHost, script(REMOVE_BY_LABEL, project)), {
      signal: ctx.signal,
      timeoutMs: DESTROY_DOWN_TIMEOUT_MS,
    });
    const removed = swept.stdout.split("\n").filter((l) => l.startsWith("removed "));
    if (removed.length > 0) ctx.log(`Removed by label: ${removed.map((l) => l.slice("removed ".length).slice(0, 80)).join(", ")}`);
    if (swept.code !== 0) {
      throw new ComposeSshError(
        "COMPOSE_DOWN_FAILED",
        `Removing what is left of compose project ${project} on ${where(handle)} failed (${exitOf(swept)}): ${failureTail(swept)}. ` +
          `Some of it may still be there, so ${keptNote}; fix the cause on the host and retry the destroy.`,
        { exitCode: swept.code },
      );
    }
  }

  /** Every container of the project, stopped ones too, from `docker inspect` (the same for v1 and v2). */
  private async listContainers(
    ssh: SshServices,
    config: SshConfig,
    project: string,
    dockerHost: string | null | undefined,
    opts: Step,
  ): Promise<ListOutcome> {
    let r = await ssh.pool.exec(config, withDockerHost(dockerHost, script(LIST_CONTAINERS, project)), opts);
    // A container removed between `ps` and `inspect` ("No such object"): list again once.
    if (r.code !== 0 && /No such (object|container)/i.test(r.stderr))
      r = await ssh.pool.exec(config, withDockerHost(dockerHost, script(LIST_CONTAINERS, project)), opts);
    if (r.code === 127) return { kind: "no-docker", reason: `docker is not installed on ${describeTarget(config)} (or not on its PATH)` };
    if (r.code !== 0) return { kind: "failed", reason: `docker ps/inspect exited ${r.code ?? r.signal}: ${failureTail(r)}` };
    try {
      return { kind: "listed", containers: parseInspect(r.stdout) };
    } catch (e) {
      if (e instanceof InspectUnreadable) return { kind: "failed", reason: e.message };
      throw e;
    }
  }

  private async logTail(
    ssh: SshServices,
    config: SshConfig,
    c: ComposeContainer,
    dockerHost: string | null | undefined,
    opts: Step,
  ): Promise<string[]> {
    const r = await ssh.pool
      .exec(config, withDockerHost(dockerHost, script(LOG_TAIL, c.id, String(LOG_TAIL_LINES))), opts)
      .catch(() => null);
    if (!r || r.code !== 0) return [];
    return orderLogLines(r.stdout)
      .slice(-LOG_TAIL_LINES)
      .map((l) => l.replace(/[^\x20-\x7e]/g, "?").slice(0, 300));
  }

  private async serviceReports(
    ssh: SshServices,
    config: SshConfig,
    containers: ComposeContainer[],
    handle: ComposeSshHandle,
    opts: Step,
  ): Promise<ServiceReport[]> {
    const out: ServiceReport[] = [];
    for (const c of [...containers].sort((a, b) => a.service.localeCompare(b.service) || a.name.localeCompare(b.name))) {
      const failed = isFailed(c);
      out.push({
        name: c.service,
        container: c.name,
        state: stateWord(c),
        condition: isUp(c) ? "up" : failed ? "failed" : "other",
        health: c.health || null,
        ports: c.ports,
        ...(failed ? { logTail: await this.logTail(ssh, config, c, handle.docker_host, opts) } : {}),
      });
    }
    const seen = new Set(containers.map((c) => c.service));
    for (const name of handle.compose_services ?? [])
      if (!seen.has(name)) out.push({ name, state: "no container", condition: "failed", health: null, ports: [] });
    return out;
  }

  private async writeFile(
    ssh: SshServices,
    config: SshConfig,
    file: string,
    content: string,
    umask: "022" | "077",
    opts: Step,
  ): Promise<void> {
    validateRemotePath(file, "file");
    // The content travels on stdin, never inside the command.
    const r = await ssh.pool.exec(config, ["sh", "-c", WRITE_FILE, "sh", file, umask], { ...opts, stdin: content });
    if (r.code !== 0) {
      throw new ComposeSshError("COMPOSE_FILE_WRITE_FAILED", `could not write ${file} on ${describeTarget(config)}: ${failureTail(r)}`);
    }
  }

  private async missingFiles(ssh: SshServices, config: SshConfig, dir: string, files: readonly string[], opts: Step): Promise<string[]> {
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
