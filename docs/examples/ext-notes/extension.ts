// ext.notes — the worked example of docs/extension-sdk.md (which quotes this file in full). A sandbox
// is one JSON notes file, <root>/sbx-<id>.json, on the sand-boxer server. Not registered in production.
import "server-only";

import fs from "node:fs/promises";
import path from "node:path";

import { z } from "zod";

import { SandboxerError, isSandboxerError, throwIfAborted } from "@/lib/errors";
import {
  SandboxExtension,
  type CheckContext,
  type CreateContext,
  type DestroyResult,
  type HandleSummary,
  type OperationContext,
  type Requirement,
  type StatusReport,
} from "@/lib/extensions/base";
import { workspaceName } from "@/lib/sandbox-id";

export const notesParamsSchema = z.strictObject({
  /** Where notes files live; defaults to <SANDBOXER_LOCAL_WORKSPACE_ROOT>/notes. */
  root: z
    .string()
    .refine((p) => path.isAbsolute(p) && path.normalize(p) === p && p !== "/", {
      error: "must be an absolute, normalised path other than /",
    })
    .optional(),
  title: z.string().min(1).max(80),
});
export type NotesParams = z.infer<typeof notesParamsSchema>;

// Strict, so a field the schema does not know is an error instead of being dropped from the stored handle.
export const notesHandleSchema = z.strictObject({
  extension: z.string(),
  file: z.string(),
});
export type NotesHandle = z.infer<typeof notesHandleSchema>;

/** Thrown when a notes file cannot be written or removed safely. */
export class NotesFileError extends SandboxerError<"NOTES_FILE"> {
  constructor(message: string) {
    super("NOTES_FILE", message, { name: "NotesFileError" });
  }
}

export class NotesExtension extends SandboxExtension<NotesParams, NotesHandle> {
  readonly paramsSchema = notesParamsSchema;
  readonly handleSchema = notesHandleSchema;

  private rootOf(params: NotesParams): string {
    return params.root ?? path.join(this.services.localWorkspaceRoot, "notes");
  }

  async check(ctx: CheckContext<NotesParams>): Promise<Requirement[]> {
    const root = this.rootOf(ctx.params);
    try {
      await fs.mkdir(root, { recursive: true });
      await fs.access(root, fs.constants.W_OK);
      return [{ name: "notes directory", met: true, reason: `${root} is writable` }];
    } catch (e) {
      return [{ name: "notes directory", met: false, reason: `${root}: ${(e as Error).message}` }];
    }
  }

  async create(ctx: CreateContext<NotesParams, NotesHandle>): Promise<NotesHandle> {
    const root = this.rootOf(ctx.params);
    // workspaceName refuses anything that is not a sandbox id, so the name can never leave the root.
    const handle: NotesHandle = { extension: this.id, file: path.join(root, `${workspaceName(ctx.sandboxId)}.json`) };
    await ctx.recordHandle(handle); // before any side effect: a crash after this is still cleaned up
    throwIfAborted(ctx.signal);
    ctx.log(`Writing ${handle.file}`);
    try {
      await fs.mkdir(root, { recursive: true });
      const body = JSON.stringify({ title: ctx.params.title, notes: [] }, null, 2);
      // "wx": never overwrite a file this sandbox did not write.
      await fs.writeFile(handle.file, body, { flag: "wx", signal: ctx.signal });
    } catch (e) {
      // People see only SandboxerError messages; a raw EACCES would read "Internal error".
      if (isSandboxerError(e) || ctx.signal.aborted) throw e;
      throw new NotesFileError(`could not write ${handle.file}: ${(e as Error).message}`);
    }
    return handle;
  }

  /** The file a handle may touch: exactly <absolute root>/sbx-<id>.json, recomputed, never trusted. */
  private fileOf(handle: NotesHandle, sandboxId: string): string {
    const file = handle.file;
    if (!path.isAbsolute(file) || path.normalize(file) !== file || path.basename(file) !== `${workspaceName(sandboxId)}.json`) {
      throw new NotesFileError(`the handle names ${JSON.stringify(file)}, not a notes file of sandbox ${sandboxId}`);
    }
    return file;
  }

  async status(handle: NotesHandle, ctx: OperationContext): Promise<StatusReport> {
    const file = this.fileOf(handle, ctx.sandboxId);
    try {
      const st = await fs.lstat(file);
      return st.isFile() ? { state: "ready", detail: `${file} exists` } : { state: "degraded", detail: `${file} is not a regular file` };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return { state: "missing", detail: `${file} does not exist` };
      return { state: "unknown", detail: (e as Error).message };
    }
  }

  async destroy(handle: NotesHandle, ctx: OperationContext): Promise<DestroyResult> {
    const file = this.fileOf(handle, ctx.sandboxId);
    let st;
    try {
      st = await fs.lstat(file);
    } catch (e) {
      // Already gone, or never made (ENOTDIR: the root could not be created): that is success.
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return { result: "absent", detail: `${file} was already gone` };
      throw e;
    }
    if (!st.isFile()) throw new NotesFileError(`${file} is not a regular file; refusing to remove it`);
    throwIfAborted(ctx.signal);
    ctx.log(`Removing ${file}`);
    await fs.rm(file);
    return { result: "removed", detail: `removed ${file}` };
  }

  describeHandle(handle: NotesHandle): HandleSummary {
    return { target: "this server", workspacePath: handle.file, teardown: [`file ${handle.file} on this server`] };
  }
}
