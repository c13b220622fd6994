// Computes the remote workspace path `<root>/sbx-<id>` and is the gate every root and id passes
// before it reaches a host. The checks are deliberately stricter than POSIX needs: a root that is
// already normalised has exactly one spelling, so "directly under root" is a plain string fact here
// and is re-checked on the host against the physical path (see remote-workspace.ts).
import "server-only";

import { ValidationError } from "@/lib/errors";
import { SANDBOX_ID_PATTERN, workspaceName } from "@/lib/sandbox-id";

const MAX_PATH_LENGTH = 1024;
// Printable ASCII only (space allowed: every use is quoted). Control characters, newlines and
// non-ASCII look-alikes would make a path that reads differently from what it is.
const PATH_CHARS = /^[\x20-\x7e]+$/;

function pathError(field: string, value: unknown, why: string): ValidationError {
  const what = field === "root" ? "workspace root" : field;
  return new ValidationError(`invalid ${what} ${JSON.stringify(value)}: ${why}`, { [field]: [why] });
}

/**
 * Returns `p` unchanged if it is an absolute, normalised remote path of printable ASCII, else throws a
 * ValidationError naming `field`. `/` itself is refused: nothing the product manages lives there.
 */
export function validateRemotePath(p: string, field: string): string {
  if (typeof p !== "string" || p.length === 0) throw pathError(field, p, "must not be empty");
  if (p.length > MAX_PATH_LENGTH) throw pathError(field, p, `must be at most ${MAX_PATH_LENGTH} characters`);
  if (!PATH_CHARS.test(p)) {
    throw pathError(field, p, "must contain only printable ASCII characters (no control characters or newlines)");
  }
  if (!p.startsWith("/")) throw pathError(field, p, "must be an absolute path");
  if (p === "/") throw pathError(field, p, "must not be / (a dedicated directory is required)");
  if (p.endsWith("/")) throw pathError(field, p, "must not end with /");
  if (p.includes("//")) throw pathError(field, p, "must not contain //");
  const segments = p.slice(1).split("/");
  if (segments.some((s) => s === "." || s === "..")) throw pathError(field, p, "must not contain . or .. segments");
  if (segments.some((s) => s.trim() === "")) throw pathError(field, p, "must not contain blank segments");
  return p;
}

/** Returns `root` unchanged if it is an acceptable workspace root, else throws a ValidationError naming `root`. */
export function validateWorkspaceRoot(root: string): string {
  return validateRemotePath(root, "root");
}

/** `<root>/sbx-<id>` for a validated root and sandbox id; throws a ValidationError naming `root` or `id`. */
export function remoteWorkspacePath(root: string, id: string): string {
  validateWorkspaceRoot(root);
  if (typeof id !== "string" || !SANDBOX_ID_PATTERN.test(id)) {
    throw new ValidationError(`invalid sandbox id ${JSON.stringify(id)}`, {
      id: [`must match ${String(SANDBOX_ID_PATTERN)}`],
    });
  }
  return `${root}/${workspaceName(id)}`;
}
