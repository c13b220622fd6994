// ext.local: a workspace directory on the manager's own host, `<root>/sbx-<id>`, optionally seeded
// from a local git repository (clone) or directory (copy). The zero-setup default profile uses it.
import "server-only";

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { z } from "zod";

import { SandboxerError, isSandboxerError, throwIfAborted } from "../../errors";
import { isSandboxId, workspaceName } from "../../sandbox-id";
import { lineSplitter } from "../../ssh";
import {
  SandboxExtension,
  type CheckContext,
  type CreateContext,
  type DestroyResult,
  type HandleSummary,
  type OperationContext,
  type Requirement,
  type StatusReport,
} from "../base";

const absolutePath = z
  .string()
  .min(1)
  .refine((p) => path.isAbsolute(p) && path.normalize(p) === p && p !== "/" && !p.endsWith("/"), {
    error: "must be an absolute, normalised path other than /",
  });

export const localParamsSchema = z.strictObject({
  /** Where workspaces live; defaults to the server's SANDBOXER_LOCAL_WORKSPACE_ROOT. */
  root: absolutePath.optional(),
  /** Seed the workspace from a local git repository (clone) or a directory (copy). */
  seed: z
    .strictObject({
      path: z.string().min(1),
      mode: z.enum(["auto", "clone", "copy"]).default("auto"),
      ref: z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/, { error: "must be a branch or tag name" })
        .optional(),
    })
    .nullable()
    .default(null),
});
export type LocalParams = z.infer<typeof localParamsSchema>;

export const localHandleSchema = z.strictObject({
  extension: z.string(),
  workspace_root: z.string(),
  workspace_path: z.string(),
});
export type LocalHandle = z.infer<typeof localHandleSchema>;

/** Thrown when a local workspace cannot be created, seeded or removed safely. */
export class LocalWorkspaceError extends SandboxerError {
  constructor(message: string, details?: Record<string, unknown>) {
    super("LOCAL_WORKSPACE", message, { details, name: "LocalWorkspaceError" });
  }
}

function run(argv: string[], opts: { signal: AbortSignal; cwd?: string; log: (l: string) => void }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd,
      signal: opts.signal,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, GIT_TERMINAL_PROMPT: "0" },
    });
    // Whole, cleaned lines per stream (a repository's hooks print what they like), as for a remote
    // host's output; the last few name a failure.
    const last: string[] = [];
    const log = (line: string) => {
      if (last.push(line) > 3) last.shift();
      opts.log(line);
    };
    const out = lineSplitter(log);
    const err = lineSplitter(log);
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => reject(e.name === "AbortError" ? (opts.signal.reason ?? e) : e));
    child.on("close", (code) => {
      out.flush();
      err.flush();
      if (code === 0) resolve();
      else reject(new LocalWorkspaceError(`${path.basename(argv[0]!)} exited with ${code}: ${last.join(" | ")}`));
    });
  });
}

export class LocalExtension extends SandboxExtension<LocalParams, LocalHandle> {
  readonly paramsSchema = localParamsSchema;
  readonly handleSchema = localHandleSchema;

  /** Its workspaces are directories of the machine whose worker made them. */
  override get machineLocal(): boolean {
    return true;
  }

  private rootOf(params: LocalParams): string {
    return params.root ?? this.services.localWorkspaceRoot;
  }

  async check(ctx: CheckContext<LocalParams>): Promise<Requirement[]> {
    const root = this.rootOf(ctx.params);
    const out: Requirement[] = [];
    try {
      fs.mkdirSync(root, { recursive: true });
      fs.accessSync(root, fs.constants.W_OK);
      out.push({ name: "workspace root", met: true, reason: `${root} is writable` });
    } catch (e) {
      out.push({ name: "workspace root", met: false, reason: `${root}: ${(e as Error).message}` });
    }
    if (ctx.params.seed) {
      const exists = fs.existsSync(ctx.params.seed.path);
      out.push({
        name: "seed source",
        met: exists,
        reason: exists ? `${ctx.params.seed.path} exists` : `${ctx.params.seed.path} does not exist`,
      });
    }
    return out;
  }

  async create(ctx: CreateContext<LocalParams, LocalHandle>): Promise<LocalHandle> {
    const root = this.rootOf(ctx.params);
    const workspace = path.join(root, workspaceName(ctx.sandboxId));
    const handle: LocalHandle = { extension: this.id, workspace_root: root, workspace_path: workspace };
    await ctx.recordHandle(handle);
    try {
      await this.fill(ctx, root, workspace);
    } catch (e) {
      // People see only SandboxerError messages: a raw EACCES or ENOSPC would read "Internal error".
      if (isSandboxerError(e) || ctx.signal.aborted) throw e;
      throw new LocalWorkspaceError(`could not create ${workspace}: ${(e as Error).message}`, { errno: (e as NodeJS.ErrnoException).code });
    }
    ctx.log(`Workspace ready: ${workspace}`);
    return handle;
  }

  /** Makes the workspace directory and seeds it; runs only after the handle was recorded. */
  private async fill(ctx: CreateContext<LocalParams, LocalHandle>, root: string, workspace: string): Promise<void> {
    throwIfAborted(ctx.signal);
    fs.mkdirSync(root, { recursive: true });
    ctx.log(`Creating ${workspace}`);
    try {
      fs.mkdirSync(workspace, { mode: 0o755 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST") {
        throw new LocalWorkspaceError(`${workspace} already exists; refusing to reuse a directory this sandbox did not create`);
      }
      throw e;
    }
    const seed = ctx.params.seed;
    if (seed) {
      const source = path.resolve(seed.path);
      if (!fs.existsSync(source)) throw new LocalWorkspaceError(`seed source ${source} does not exist`);
      const isGit = fs.existsSync(path.join(source, ".git")) || source.endsWith(".git");
      const mode = seed.mode === "auto" ? (isGit ? "clone" : "copy") : seed.mode;
      if (mode === "clone") {
        ctx.log(`Cloning ${source}${seed.ref ? ` at ${seed.ref}` : ""}`);
        const argv = ["git", "clone", "--quiet", "--no-hardlinks"];
        if (seed.ref) argv.push("--branch", seed.ref);
        argv.push("--", source, workspace);
        await run(argv, { signal: ctx.signal, log: ctx.log });
      } else {
        ctx.log(`Copying ${source}`);
        await fs.promises.cp(source, workspace, {
          recursive: true,
          force: false,
          errorOnExist: false,
          verbatimSymlinks: true,
          // fs.cp takes no AbortSignal; its filter runs before each entry, so an abort stops the copy at
          // the next file instead of after the whole tree (the manager may already be destroying it).
          filter: () => {
            throwIfAborted(ctx.signal);
            return true;
          },
        });
      }
      throwIfAborted(ctx.signal);
      const count = fs.readdirSync(workspace).length;
      ctx.log(`Seeded ${workspace} (${count} top-level entries)`);
    }
  }

  /** The path a handle may remove: exactly `<root>/sbx-<id>`, recomputed, never taken on trust. */
  private guardedPath(handle: LocalHandle, sandboxId: string): string {
    if (!isSandboxId(sandboxId)) throw new LocalWorkspaceError(`not a sandbox id: ${JSON.stringify(sandboxId)}`);
    const root = handle.workspace_root;
    if (!path.isAbsolute(root) || path.normalize(root) !== root || root === "/" || root.endsWith("/")) {
      throw new LocalWorkspaceError(`refusing to remove under workspace root ${JSON.stringify(root)}`);
    }
    const expected = path.join(root, workspaceName(sandboxId));
    if (handle.workspace_path !== expected) {
      throw new LocalWorkspaceError(`the handle names ${handle.workspace_path}, not ${expected}; refusing to remove it`);
    }
    return expected;
  }

  async status(handle: LocalHandle, ctx: OperationContext): Promise<StatusReport> {
    const p = this.guardedPath(handle, ctx.sandboxId);
    try {
      const st = fs.lstatSync(p);
      if (!st.isDirectory()) return { state: "degraded", detail: `${p} is not a directory` };
      const fsStats = fs.statfsSync(p);
      return { state: "ready", detail: `${p} exists`, freeBytes: fsStats.bavail * fsStats.bsize };
    } catch (e) {
      if (isGone(e)) return { state: "missing", detail: `${p} does not exist` };
      return { state: "unknown", detail: (e as Error).message };
    }
  }

  async destroy(handle: LocalHandle, ctx: OperationContext): Promise<DestroyResult> {
    const p = this.guardedPath(handle, ctx.sandboxId);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch (e) {
      if (isGone(e)) return { result: "absent", detail: `${p} was already gone` };
      throw e;
    }
    if (st.isSymbolicLink()) throw new LocalWorkspaceError(`${p} is a symbolic link; refusing to follow or remove it`);
    if (!st.isDirectory()) throw new LocalWorkspaceError(`${p} is not a directory; refusing to remove it`);
    const realRoot = fs.realpathSync(handle.workspace_root);
    if (path.dirname(fs.realpathSync(p)) !== realRoot) {
      throw new LocalWorkspaceError(`${p} is not directly under ${handle.workspace_root}; refusing to remove it`);
    }
    throwIfAborted(ctx.signal);
    ctx.log(`Removing ${p}`);
    try {
      await fs.promises.rm(p, { recursive: true, force: false, maxRetries: 2 });
    } catch (e) {
      const remaining = fs.existsSync(p) ? listRemaining(p) : [];
      throw new LocalWorkspaceError(
        `could not remove ${p}: ${(e as Error).message}${remaining.length ? `; still there: ${remaining.join(", ")}` : ""}`,
        {
          remaining,
        },
      );
    }
    return { result: "removed", detail: `removed ${p}` };
  }

  describeHandle(handle: LocalHandle): HandleSummary {
    return {
      target: "this server",
      workspacePath: handle.workspace_path,
      teardown: [`directory ${handle.workspace_path} on this server`],
    };
  }
}

/**
 * The path cannot exist: ENOENT, or ENOTDIR when a component of the root is not a directory (a create
 * that failed on an unusable root recorded its handle first; destroying that handle must succeed).
 */
function isGone(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

function listRemaining(p: string, limit = 10): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
      if (out.length >= limit) return;
      const full = path.join(dir, d.name);
      out.push(full);
      if (d.isDirectory() && !d.isSymbolicLink()) {
        try {
          walk(full);
        } catch {
          /* unreadable: listed already */
        }
      }
    }
  };
  try {
    walk(p);
  } catch {
    /* p unreadable */
  }
  return out;
}
