// What every SSH-based extension (ext.vm-packer, ext.compose-ssh) shares: the handle fields that
// name a workspace on a build VM, the SshConfig built from them (pinned key, the server's identity),
// and the handle in human terms. One code path to a VM, whatever the extension.
import "server-only";

import { z } from "zod";

import path from "node:path";

import { SandboxerError, throwIfAborted } from "../../errors";
import { WORKSPACE_PREFIX, workspaceName } from "../../sandbox-id";
import {
  createRemoteWorkspace,
  listRemoteRoot,
  publicKeyLine,
  remoteWorkspacePath,
  rsyncToRemote,
  shellCommand,
  validateWorkspaceRoot,
  type CreateRemoteWorkspaceOptions,
  type RsyncResult,
  type SshConfig,
} from "../../ssh";
import type {
  FoundWorkspace,
  HandleSummary,
  HostRequirement,
  HostTarget,
  ListWorkspacesContext,
  LogFn,
  Requirement,
  SshServices,
  WorkspaceLocation,
} from "../base";

// ─── Params every SSH extension takes ────────────────────────────────────────────────────────────

/** Where the sandbox goes: a registered host's id, or a label (least-loaded healthy host, within capacity). */
export const hostSelectionShape = {
  host: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]*$/)
    .nullable()
    .default(null),
  hostLabel: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]*$/)
    .nullable()
    .default(null),
  /** Overrides the host's workspace root (hosts.yaml, default /build). */
  workspaceRoot: z
    .string()
    .refine(
      (r) => {
        try {
          validateWorkspaceRoot(r);
          return true;
        } catch {
          return false;
        }
      },
      { error: "must be an absolute, normalised directory other than /" },
    )
    .nullable()
    .default(null),
  /**
   * Mode of the workspace directory. 0700 (only the VM account) unless the profile opens it up: a
   * workspace holds someone's checkout, and other accounts on a shared VM have no business reading it.
   */
  workspaceMode: z.enum(["0700", "0755"]).default("0700"),
};

/** A checkout on the sand-boxer server, rsynced into the workspace (.gitignore respected). */
export const localRepositorySchema = z.strictObject({
  path: z.string().refine((p) => path.isAbsolute(p), { error: "must be an absolute path on the sand-boxer server" }),
  excludes: z.array(z.string().min(1)).default([".git"]),
});

/** For a schema's superRefine: exactly one of host and hostLabel. */
export function checkHostSelection(p: { host: string | null; hostLabel: string | null }, ctx: z.RefinementCtx): void {
  if ((p.host === null) === (p.hostLabel === null))
    ctx.addIssue({ code: "custom", message: "give exactly one of host or hostLabel", path: ["host"] });
}

export function hostRequirementOf(p: { host: string | null; hostLabel: string | null }): HostRequirement {
  return p.host ? { hostId: p.host } : { label: p.hostLabel! };
}

// ─── Handles ─────────────────────────────────────────────────────────────────────────────────────

/** The fields of a destroy handle that locate a workspace on a VM (snake_case, as people read them). */
export const remoteHandleShape = {
  extension: z.string(),
  host_id: z.string().nullable().optional(),
  vm_target: z.string(),
  ssh_port: z.number().int().min(1).max(65535),
  ssh_user: z.string(),
  workspace_root: z.string(),
  workspace_path: z.string(),
  host_key: z.string(),
};

export const remoteHandleSchema = z.strictObject(remoteHandleShape);
export type RemoteHandle = z.infer<typeof remoteHandleSchema>;

/** Thrown when an SSH extension is used on a server without SSH services, or a handle is inconsistent. */
export class RemoteWorkspaceError extends SandboxerError {
  constructor(code: "SSH_NOT_CONFIGURED" | "NO_HOST" | "HANDLE_INCONSISTENT" | "GIT_CLONE_FAILED", message: string) {
    super(code, message, { name: "RemoteWorkspaceError" });
  }
}

export function requireSsh(services: { ssh?: SshServices }): SshServices {
  if (!services.ssh)
    throw new RemoteWorkspaceError("SSH_NOT_CONFIGURED", "This server has no SSH configuration; SSH extensions cannot run");
  return services.ssh;
}

/** The handle for a new workspace on `host` (computed, never taken from input). */
export function remoteHandleFor(extension: string, host: HostTarget, root: string, sandboxId: string): RemoteHandle {
  return {
    extension,
    host_id: host.id,
    vm_target: host.address,
    ssh_port: host.port,
    ssh_user: host.user,
    workspace_root: root,
    workspace_path: remoteWorkspacePath(root, sandboxId),
    host_key: host.hostKey,
  };
}

/**
 * The path a handle may touch: exactly `<root>/sbx-<id>`, recomputed. A handle naming anything else is
 * refused before any connection is made.
 */
export function guardedWorkspacePath(handle: RemoteHandle, sandboxId: string): string {
  const expected = remoteWorkspacePath(handle.workspace_root, sandboxId);
  if (handle.workspace_path !== expected) {
    throw new RemoteWorkspaceError(
      "HANDLE_INCONSISTENT",
      `The handle names ${handle.workspace_path}, not ${expected}; refusing to touch it`,
    );
  }
  return expected;
}

/**
 * The SSH configuration for a handle. The pin is the handle's key unless an admin has since pinned a
 * new key for the same registered host (a rebuilt VM): then that one, which a person approved.
 */
export async function sshConfigFor(ssh: SshServices, handle: RemoteHandle): Promise<SshConfig> {
  const current = handle.host_id ? await ssh.pinnedKey(handle.host_id) : null;
  return {
    host: handle.vm_target,
    port: handle.ssh_port,
    user: handle.ssh_user,
    identity: ssh.identityFor(handle.host_id ?? null),
    trust: ssh.trustFor(handle.host_id ?? null, current || handle.host_key || null),
    readyTimeoutMs: ssh.readyTimeoutMs,
  };
}

export function sshConfigForHost(ssh: SshServices, host: HostTarget): SshConfig {
  return {
    host: host.address,
    port: host.port,
    user: host.user,
    identity: ssh.identityFor(host.id),
    trust: ssh.trustFor(host.id, host.hostKey || null),
    readyTimeoutMs: ssh.readyTimeoutMs,
  };
}

/** The "ssh" requirement of a check: the host answers with its pinned key. */
export async function sshRequirement(ssh: SshServices, config: SshConfig, host: HostTarget, signal?: AbortSignal): Promise<Requirement> {
  try {
    await ssh.pool.verifiedHostKey(config, { signal });
    const how =
      "pinnedFingerprint" in config.trust
        ? `the pinned key ${config.trust.pinnedFingerprint}`
        : `a key ${config.trust.knownHostsPath} trusts`;
    return { name: "ssh", met: true, reason: `${host.address}:${host.port} answers with ${how}` };
  } catch (e) {
    return { name: "ssh", met: false, reason: (e as Error).message };
  }
}

/** Stores the full key the VM presented (verified against the pin) for clients that need known_hosts. */
export async function rememberVerifiedKey(
  ssh: SshServices,
  config: SshConfig,
  hostId: string | null | undefined,
  signal?: AbortSignal,
): Promise<void> {
  if (!hostId) return;
  const blob = await ssh.pool.verifiedHostKey(config, { signal });
  await ssh.rememberHostKey(hostId, publicKeyLine(blob));
}

export function describeRemoteHandle(handle: RemoteHandle, extra: string[] = []): HandleSummary {
  const target = `${handle.vm_target}:${handle.ssh_port}`;
  const remote = shellCommand(["cd", handle.workspace_path]) + ' && exec "${SHELL:-/bin/sh}" -l';
  return {
    target,
    address: handle.vm_target,
    port: handle.ssh_port,
    user: handle.ssh_user,
    workspacePath: handle.workspace_path,
    hostKey: handle.host_key,
    sshCommand: shellCommand([
      "ssh",
      "-t",
      "-p",
      String(handle.ssh_port),
      "-o",
      "StrictHostKeyChecking=yes",
      `${handle.ssh_user}@${handle.vm_target}`,
      remote,
    ]),
    teardown: [...extra, `directory ${handle.workspace_path} on ${target}${handle.host_id ? ` (${handle.host_id})` : ""}`],
  };
}

// ─── The create sequence every SSH extension shares ─────────────────────────────────────────────

export interface StartedWorkspace {
  ssh: SshServices;
  config: SshConfig;
  /** `<root>/sbx-<id>` on the host. */
  workspace: string;
}

/**
 * Records the handle (intent first: from here on a crash leaves a handle naming exactly what may
 * exist), connects with the host's pinned key, creates the workspace, and remembers the full key the
 * host presented (for the CLI's known_hosts).
 */
export async function startRemoteWorkspace<H extends RemoteHandle>(
  services: { ssh?: SshServices },
  ctx: { sandboxId: string; host: HostTarget; signal: AbortSignal; log: LogFn; recordHandle(handle: H): Promise<void> },
  handle: H,
  opts: { timeoutMs: number; mode: NonNullable<CreateRemoteWorkspaceOptions["mode"]> },
): Promise<StartedWorkspace> {
  const ssh = requireSsh(services);
  const { host } = ctx;
  await ctx.recordHandle(handle);
  throwIfAborted(ctx.signal);
  const config = sshConfigForHost(ssh, host);
  ctx.log(
    `Connecting to ${host.user}@${host.address}:${host.port} (host key ${"pinnedFingerprint" in config.trust ? config.trust.pinnedFingerprint : `from ${config.trust.knownHostsPath}`})`,
  );
  const created = await createRemoteWorkspace(ssh.pool, config, handle.workspace_root, ctx.sandboxId, {
    signal: ctx.signal,
    timeoutMs: opts.timeoutMs,
    mode: opts.mode,
  });
  ctx.log(`${created.result === "reused" ? "Reusing the empty" : "Created"} ${created.path} on ${host.title}`);
  await rememberVerifiedKey(ssh, config, host.id, ctx.signal).catch(() => {});
  return { ssh, config, workspace: created.path };
}

/** rsyncs a checkout on this server into the workspace (.gitignore respected), logging progress and a summary. */
export async function syncCheckout(
  started: StartedWorkspace,
  repository: z.infer<typeof localRepositorySchema>,
  ctx: { signal: AbortSignal; log: LogFn },
  timeoutMs: number,
): Promise<RsyncResult> {
  throwIfAborted(ctx.signal);
  ctx.log(`Syncing ${repository.path} → ${started.workspace} (rsync over SSH, .gitignore respected)`);
  const r = await rsyncToRemote({
    config: started.config,
    pool: started.ssh.pool,
    source: repository.path,
    destination: started.workspace,
    excludes: repository.excludes,
    filterGitignore: true,
    signal: ctx.signal,
    timeoutMs,
    onProgress: (line) => ctx.log(line),
  });
  ctx.log(
    `Synced ${r.files} entries (${r.filesTransferred} transferred, ${r.bytesTransferred} bytes) in ${(r.durationMs / 1000).toFixed(1)} s`,
  );
  return r;
}

// ─── Reconciliation: what every SSH extension shares ────────────────────────────────────────────

export function remoteWorkspaceOf(handle: RemoteHandle): WorkspaceLocation {
  return { hostId: handle.host_id ?? null, root: handle.workspace_root, path: handle.workspace_path };
}

/**
 * The `sbx-<id>` directories under each root on the host, each once (two roots that are one directory
 * on the host list the same workspaces; real paths tell them apart).
 */
export async function listWorkspaceDirs(ssh: SshServices, ctx: ListWorkspacesContext): Promise<FoundWorkspace[]> {
  const config = sshConfigForHost(ssh, ctx.host);
  const seen = new Map<string, FoundWorkspace>();
  for (const root of ctx.roots) {
    const listing = await listRemoteRoot(ssh.pool, config, root, { signal: ctx.signal, timeoutMs: 60_000 });
    for (const name of listing.names) {
      const realPath = `${listing.realRoot.replace(/\/$/, "")}/${name}`;
      if (seen.has(realPath)) continue;
      seen.set(realPath, {
        sandboxId: name.slice(WORKSPACE_PREFIX.length),
        path: remoteWorkspacePath(root, name.slice(WORKSPACE_PREFIX.length)),
        realPath,
        claim: "generic",
      });
    }
  }
  return [...seen.values()];
}

export { workspaceName };
