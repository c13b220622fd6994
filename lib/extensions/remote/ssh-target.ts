// What every SSH-based extension (ext.vm-packer, ext.compose-ssh) shares: the handle fields that
// name a workspace on a build VM, the SshConfig built from them (pinned key, the server's identity),
// and the handle in human terms. One code path to a VM, whatever the extension.
import "server-only";

import { z } from "zod";

import path from "node:path";

import { SandboxerError } from "../../errors";
import { workspaceName } from "../../sandbox-id";
import { publicKeyLine, remoteWorkspacePath, shellCommand, validateWorkspaceRoot, type SshConfig } from "../../ssh";
import type { HandleSummary, HostRequirement, HostTarget, Requirement, SshServices } from "../base";

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
  constructor(code: string, message: string) {
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
    trust: { pinnedFingerprint: current ?? handle.host_key },
    readyTimeoutMs: ssh.readyTimeoutMs,
  };
}

export function sshConfigForHost(ssh: SshServices, host: HostTarget): SshConfig {
  return {
    host: host.address,
    port: host.port,
    user: host.user,
    identity: ssh.identityFor(host.id),
    trust: { pinnedFingerprint: host.hostKey },
    readyTimeoutMs: ssh.readyTimeoutMs,
  };
}

/** The "ssh" requirement of a check: the host answers with its pinned key. */
export async function sshRequirement(ssh: SshServices, config: SshConfig, host: HostTarget, signal?: AbortSignal): Promise<Requirement> {
  try {
    await ssh.pool.verifiedHostKey(config, { signal });
    return { name: "ssh", met: true, reason: `${host.address}:${host.port} answers with the pinned key ${host.hostKey}` };
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

export { workspaceName };
