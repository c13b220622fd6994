// ext.vm-packer, attach mode: a sandbox is a directory `<root>/sbx-<id>` on a pre-built build VM (made
// earlier with Packer), reached over SSH — often through a reverse-tunnel port such as 12222 — and
// optionally filled with a repository (rsync of a checkout on the server, or a shallow git clone on
// the VM). Teardown removes exactly that directory; the VM itself is never touched.
import "server-only";

import { z } from "zod";

import { isDeepStrictEqual } from "node:util";

import { throwIfAborted } from "../../errors";
import { lineSplitter, remoteFreeSpace, remoteWorkspaceState, removeRemoteWorkspace, tailLine } from "../../ssh";
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
  type MoveContext,
  MoveTargetMissing,
  type OperationContext,
  type Requirement,
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
  remoteHandleSchema,
  remoteWorkspaceOf,
  requireSsh,
  sshConfigFor,
  sshConfigForHost,
  sshRequirement,
  startRemoteWorkspace,
  syncCheckout,
  RemoteWorkspaceError,
  type RemoteHandle,
} from "../remote/ssh-target";

const GIT_URL = /^(https:\/\/|ssh:\/\/|git:\/\/|file:\/\/\/|\/)[^\s]+$|^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+$/;
const GIT_REF = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/;
/** What git check-ref-format refuses among GIT_REF's characters: "..", "//", a part starting with ".", a trailing "/", "." or ".lock". */
const GIT_REF_FORBIDDEN = /\.\.|\/\/|\/\.|\.lock(\/|$)|[/.]$/;

const repositorySchema = z.union([
  localRepositorySchema,
  z.strictObject({
    /** A repository the VM can reach; cloned shallowly on the VM. */
    git: z.string().regex(GIT_URL, { error: "must be an https://, ssh://, git@host:path, file:/// or absolute-path repository URL" }),
    ref: z
      .string()
      .regex(GIT_REF, { error: "must be a branch or tag name (letters, digits, '.', '_', '/', '-'; not starting with '-')" })
      .refine((v) => !GIT_REF_FORBIDDEN.test(v), {
        error: "must be a valid git branch or tag name (no '..', '//', part starting with '.', or trailing '/', '.' or '.lock')",
      })
      .default("main"),
  }),
]);

export const vmPackerParamsSchema = z
  .strictObject({
    ...hostSelectionShape,
    repository: repositorySchema.nullable().default(null),
    /** Time limit of the repository sync (rsync or clone), in seconds. */
    syncTimeoutSeconds: z
      .number()
      .int()
      .min(5)
      .max(24 * 3600)
      .default(1800),
  })
  .superRefine(checkHostSelection);

export type VmPackerParams = z.infer<typeof vmPackerParamsSchema>;
export const vmPackerHandleSchema = remoteHandleSchema;
export type VmPackerHandle = RemoteHandle;

export class VmPackerExtension extends SandboxExtension<VmPackerParams, VmPackerHandle> {
  readonly paramsSchema = vmPackerParamsSchema;
  readonly handleSchema = vmPackerHandleSchema;

  override hostRequirement(params: VmPackerParams): HostRequirement {
    return hostRequirementOf(params);
  }

  async check(ctx: CheckContext<VmPackerParams>): Promise<Requirement[]> {
    const out: Requirement[] = [];
    const ssh = requireSsh(this.services);
    if (!ctx.host) return [{ name: "build host", met: false, reason: "no registered host matches this profile (see hosts.yaml)" }];
    const config = sshConfigForHost(ssh, ctx.host);
    const root = ctx.params.workspaceRoot ?? ctx.host.workspaceRoot;
    const reachable = await sshRequirement(ssh, config, ctx.host, ctx.signal);
    out.push(reachable);
    if (!reachable.met) return out;
    try {
      const free = await remoteFreeSpace(ssh.pool, config, root, { signal: ctx.signal });
      out.push({ name: "workspace root", met: true, reason: `${root}: ${Math.round(free / 2 ** 20)} MiB free` });
    } catch (e) {
      out.push({ name: "workspace root", met: false, reason: (e as Error).message });
    }
    if (ctx.params.repository && "git" in ctx.params.repository) {
      const r = await ssh.pool
        .exec(config, ["git", "--version"], { timeoutMs: 15_000, signal: ctx.signal })
        .catch((e: Error) => ({ code: -1, stdout: "", stderr: e.message }));
      out.push({
        name: "git on the VM",
        met: r.code === 0,
        reason: r.code === 0 ? r.stdout.trim() : `git is not available on the VM: ${r.stderr.trim()}`,
      });
    }
    return out;
  }

  async create(ctx: CreateContext<VmPackerParams, VmPackerHandle>): Promise<VmPackerHandle> {
    const host = ctx.host;
    if (!host) throw new RemoteWorkspaceError("NO_HOST", "ext.vm-packer needs a build host; the manager gave none");
    const root = ctx.params.workspaceRoot ?? host.workspaceRoot;
    const handle = remoteHandleFor(this.id, host, root, ctx.sandboxId);
    const started = await startRemoteWorkspace(this.services, { ...ctx, host }, handle, {
      timeoutMs: 60_000,
      mode: ctx.params.workspaceMode,
    });
    const { ssh, config, workspace } = started;
    const repo = ctx.params.repository;
    if (repo) {
      const timeoutMs = ctx.params.syncTimeoutSeconds * 1000;
      if ("path" in repo) {
        await syncCheckout(started, repo, ctx, timeoutMs);
      } else {
        throwIfAborted(ctx.signal);
        ctx.log(`Cloning ${repo.git} at ${repo.ref} on the VM (git clone --depth 1)`);
        const lines = lineSplitter((line) => ctx.log(line));
        const r = await ssh.pool.exec(
          config,
          ["git", "-c", "advice.detachedHead=false", "clone", "--quiet", "--depth", "1", "--branch", repo.ref, "--", repo.git, workspace],
          {
            timeoutMs,
            signal: ctx.signal,
            onStderr: (chunk: Buffer) => lines.push(chunk),
          },
        );
        lines.flush();
        if (r.code !== 0) {
          throw new RemoteWorkspaceError(
            "GIT_CLONE_FAILED",
            `git clone of ${repo.git} at ${repo.ref} failed on ${host.address}:${host.port} (exit ${r.code}): ${tailLine(r.stderr)}`,
          );
        }
        const head = await ssh.pool.exec(config, ["git", "-C", workspace, "rev-parse", "--short", "HEAD"], {
          timeoutMs: 15_000,
          signal: ctx.signal,
        });
        ctx.log(`Cloned ${repo.ref} at ${head.stdout.trim() || "?"}`);
      }
    }
    return handle;
  }

  /** A clone of the same repository, everything else equal, another ref: fetch and check it out on the VM. */
  override canMove(from: VmPackerParams, to: VmPackerParams): boolean {
    const a = from.repository;
    const b = to.repository;
    if (!a || !b || !("git" in a) || !("git" in b) || a.ref === b.ref) return false;
    return isDeepStrictEqual({ ...from, repository: { ...a, ref: "" } }, { ...to, repository: { ...b, ref: "" } });
  }

  /**
   * Moves a member's clone to another ref: `git fetch --depth 1 origin <ref>` (the clone is shallow and
   * single-branch, and a fresh clone would take the ref's tip now too), `git checkout --force -B <ref>`
   * and `git clean -ffdx`, so the tree is exactly the ref's — nothing of the old ref's files stays.
   * Every command is an argv array; the ref passed GIT_REF (never starts with "-").
   */
  override async move(ctx: MoveContext<VmPackerParams, VmPackerHandle>): Promise<VmPackerHandle> {
    const ssh = requireSsh(this.services);
    const workspace = guardedWorkspacePath(ctx.handle, ctx.sandboxId);
    const repo = ctx.to.repository;
    if (!repo || !("git" in repo)) throw new Error("move needs a git repository in the new params");
    const config = await sshConfigFor(ssh, ctx.handle);
    const where = `${ctx.handle.vm_target}:${ctx.handle.ssh_port}`;
    const git = async (args: string[], timeoutMs: number) => {
      throwIfAborted(ctx.signal);
      return ssh.pool.exec(config, ["git", "-C", workspace, ...args], { timeoutMs, signal: ctx.signal });
    };
    ctx.log(`Moving the clone to ${repo.ref} on the VM (git fetch --depth 1 + checkout)`);
    const fetched = await git(["fetch", "--quiet", "--depth", "1", "--no-tags", "origin", repo.ref], ctx.to.syncTimeoutSeconds * 1000);
    if (fetched.code !== 0) {
      if (/couldn't find remote ref|not our ref|invalid refspec/i.test(fetched.stderr)) {
        throw new MoveTargetMissing(`${repo.git} has no branch or tag ${repo.ref} (git fetch on ${where}: ${tailLine(fetched.stderr)})`);
      }
      throw new RemoteWorkspaceError(
        "GIT_CLONE_FAILED",
        `git fetch of ${repo.ref} failed on ${where} (exit ${fetched.code}): ${tailLine(fetched.stderr)}`,
      );
    }
    const steps: [string, string[]][] = [
      ["checkout", ["-c", "advice.detachedHead=false", "checkout", "--quiet", "--force", "-B", repo.ref, "FETCH_HEAD"]],
      ["clean", ["clean", "-ffdxq"]],
    ];
    for (const [name, args] of steps) {
      const r = await git(args, 120_000);
      if (r.code !== 0) {
        throw new RemoteWorkspaceError(
          "GIT_CLONE_FAILED",
          `git ${name} of ${repo.ref} failed on ${where} (exit ${r.code}): ${tailLine(r.stderr)}`,
        );
      }
    }
    const head = await git(["rev-parse", "--short", "HEAD"], 15_000);
    ctx.log(`Moved to ${repo.ref} at ${head.stdout.trim() || "?"}`);
    return ctx.handle;
  }

  async status(handle: VmPackerHandle, ctx: OperationContext): Promise<StatusReport> {
    const ssh = requireSsh(this.services);
    guardedWorkspacePath(handle, ctx.sandboxId);
    const config = await sshConfigFor(ssh, handle);
    const state = await remoteWorkspaceState(ssh.pool, config, handle.workspace_root, ctx.sandboxId, { signal: ctx.signal });
    if (state === "absent" || state === "root-missing")
      return { state: "missing", detail: `${handle.workspace_path} does not exist on ${handle.vm_target}:${handle.ssh_port}` };
    if (state !== "directory") return { state: "degraded", detail: `${handle.workspace_path} is a ${state}, not a directory` };
    const freeBytes = await remoteFreeSpace(ssh.pool, config, handle.workspace_root, { signal: ctx.signal }).catch(() => undefined);
    return { state: "ready", detail: `${handle.workspace_path} exists`, freeBytes };
  }

  async destroy(handle: VmPackerHandle, ctx: OperationContext): Promise<DestroyResult> {
    const ssh = requireSsh(this.services);
    const workspace = guardedWorkspacePath(handle, ctx.sandboxId);
    const config = await sshConfigFor(ssh, handle);
    const r = await removeRemoteWorkspace(ssh.pool, config, handle.workspace_root, ctx.sandboxId, {
      signal: ctx.signal,
      timeoutMs: 10 * 60_000,
    });
    const where = `${handle.vm_target}:${handle.ssh_port}`;
    return r.result === "removed"
      ? { result: "removed", detail: `Removed ${workspace} on ${where}` }
      : { result: "absent", detail: `${workspace} on ${where} was already gone` };
  }

  describeHandle(handle: VmPackerHandle): HandleSummary {
    return describeRemoteHandle(handle);
  }

  override workspaceOf(handle: VmPackerHandle): WorkspaceLocation {
    return remoteWorkspaceOf(handle);
  }

  override async listWorkspaces(ctx: ListWorkspacesContext): Promise<FoundWorkspace[]> {
    return listWorkspaceDirs(requireSsh(this.services), ctx);
  }

  /** An orphan directory becomes a sandbox whose destroy removes exactly that directory. */
  override async adopt(found: FoundWorkspace, ctx: { host: HostTarget }): Promise<VmPackerHandle> {
    const root = found.path.slice(0, found.path.lastIndexOf("/")) || "/";
    return remoteHandleFor(this.id, ctx.host, root, found.sandboxId);
  }
}
