// The workspace operations every SSH-based extension shares (ext.vm-packer, ext.compose-ssh):
// create, remove, exists, list, free space under a workspace root on a host. Each runs a fixed
// POSIX sh script as `sh -c '<script>' sh <args…>`: inputs arrive as positional parameters and are
// never part of the script text. Paths are computed and validated locally (workspace-path.ts) and
// checked again on the host, against the physical path, right before anything is changed.
//
// Decisions:
// - Mode 0700 by default: a workspace holds someone's checkout (and often credentials in it);
//   other accounts on a shared build VM have no business reading it. 0755 is available for
//   setups where another account (e.g. a container runtime's user) must read it.
// - Create never uses `mkdir -p` on the leaf. An existing `sbx-<id>` is accepted only when it is an
//   empty directory owned by the SSH user, which is what a retried create leaves behind (the
//   destroy handle is written before the mkdir, so a crash between the two is retried). Anything
//   else (non-empty, another owner, a file, a symlink) is SSH_WORKSPACE_EXISTS/UNSAFE.
// - Remove deletes exactly `<root>/sbx-<id>` after verifying on the host that it is not a symlink
//   and is a real directory whose physical parent is the root's physical path; `rm -rf` never
//   follows symlinks, and `--one-file-system` (GNU) keeps it off anything mounted inside. "Already
//   gone" is success; anything left behind is an error listing what remains.
import "server-only";

import { ValidationError } from "@/lib/errors";
import { WORKSPACE_PREFIX, isSandboxId, workspaceName } from "@/lib/sandbox-id";

import type { ExecResult } from "./connection";
import { describeTarget, type SshConfig } from "./ssh-config";
import { SshError, lastLines } from "./errors";
import type { SshPool } from "./pool";
import { remoteWorkspacePath, validateWorkspaceRoot } from "./workspace-path";

export interface RemoteWorkspaceOptions {
  signal?: AbortSignal;
  /** Default 30 s. */
  timeoutMs?: number;
}

export interface CreateRemoteWorkspaceOptions extends RemoteWorkspaceOptions {
  /** Default "0700" (see the module comment). */
  mode?: "0700" | "0755";
}

const DEFAULT_TIMEOUT_MS = 30_000;

// Exit codes shared by the scripts below.
const EXIT_BAD_ARGS = 64;
const EXIT_ROOT_INVALID = 65;
const EXIT_ROOT_NOT_WRITABLE = 66;
const EXIT_UNSAFE = 67;
const EXIT_EXISTS = 68;
const EXIT_REMAINING = 69;

// Re-validates the positional parameters on the host: the local checks are authoritative, these
// make the script safe on its own.
const CHECK_ARGS = `
case $root in /*) ;; *) echo "workspace root must be an absolute path" >&2; exit ${EXIT_BAD_ARGS} ;; esac
if [ "$root" = / ]; then echo "refusing to use / as the workspace root" >&2; exit ${EXIT_BAD_ARGS}; fi
case $name in ${WORKSPACE_PREFIX}[a-z]*) ;; *) echo "not a workspace name: $name" >&2; exit ${EXIT_BAD_ARGS} ;; esac
case $name in */* | *[!a-z0-9-]*) echo "not a workspace name: $name" >&2; exit ${EXIT_BAD_ARGS} ;; esac
`;

const CREATE_SCRIPT = `set -u
root=$1 name=$2 mode=$3
${CHECK_ARGS}
case $mode in 0700 | 0755) ;; *) echo "bad mode $mode" >&2; exit ${EXIT_BAD_ARGS} ;; esac
if [ ! -d "$root" ]; then echo "workspace root $root does not exist or is not a directory" >&2; exit ${EXIT_ROOT_INVALID}; fi
cd -P -- "$root" || { echo "cannot enter workspace root $root" >&2; exit ${EXIT_ROOT_INVALID}; }
phys=$(pwd -P)
if [ -z "$phys" ] || [ "$phys" = / ]; then echo "workspace root $root resolves to /" >&2; exit ${EXIT_ROOT_INVALID}; fi
if [ ! -w . ] || [ ! -x . ]; then echo "workspace root $root is not writable by $(id -un)" >&2; exit ${EXIT_ROOT_NOT_WRITABLE}; fi
if mkdir -m "$mode" -- "$name" 2>/dev/null; then echo "SBX:created $phys/$name"; exit 0; fi
if [ -L "$name" ]; then echo "$phys/$name is a symlink" >&2; exit ${EXIT_UNSAFE}; fi
if [ -d "$name" ] && [ -O "$name" ] && [ -z "$(ls -A -- "$name")" ]; then
  chmod "$mode" -- "$name" || exit 70
  echo "SBX:reused $phys/$name"; exit 0
fi
if [ -e "$name" ]; then echo "$phys/$name already exists and is not an empty directory owned by $(id -un)" >&2; exit ${EXIT_EXISTS}; fi
mkdir -m "$mode" -- "$name" && { echo "SBX:created $phys/$name"; exit 0; }
exit 70
`;

const REMOVE_SCRIPT = `set -u
root=$1 name=$2
if [ -z "$root" ] || [ "$root" = / ]; then echo "refusing to remove anything under the workspace root '$root'" >&2; exit ${EXIT_BAD_ARGS}; fi
${CHECK_ARGS}
if [ ! -e "$root" ] && [ ! -L "$root" ]; then echo "SBX:absent root"; exit 0; fi
cd -P -- "$root" || { echo "cannot enter workspace root $root" >&2; exit ${EXIT_ROOT_INVALID}; }
phys=$(pwd -P)
if [ -z "$phys" ] || [ "$phys" = / ]; then echo "workspace root $root resolves to /; refusing" >&2; exit ${EXIT_BAD_ARGS}; fi
if [ -L "$name" ]; then echo "$phys/$name is a symlink; refusing to follow or remove it" >&2; exit ${EXIT_UNSAFE}; fi
if [ ! -e "$name" ]; then echo "SBX:absent"; exit 0; fi
if [ ! -d "$name" ]; then echo "$phys/$name is not a directory; refusing to remove it" >&2; exit ${EXIT_UNSAFE}; fi
ws=$(cd -P -- "$name" 2>/dev/null && pwd -P) || ws=
if [ -z "$ws" ] && [ -O "$name" ]; then
  chmod u+rwx -- "$name" 2>/dev/null
  ws=$(cd -P -- "$name" 2>/dev/null && pwd -P) || ws=
fi
if [ -z "$ws" ]; then echo "cannot enter $phys/$name to verify it; refusing" >&2; exit ${EXIT_UNSAFE}; fi
if [ "\${ws%/*}" != "$phys" ] || [ "\${ws##*/}" != "$name" ]; then
  echo "$phys/$name resolves to $ws, which is not directly under $phys; refusing" >&2; exit ${EXIT_UNSAFE}
fi
# Read-only directories of our own (Go's module cache makes them, for one) would stop rm; make them
# writable first. find never follows symlinks (-P is its default) and -xdev keeps it off mounts;
# only directories owned by this user are touched, so someone else's files still remain and are reported.
find "$name" -xdev -type d ! -perm -700 -user "$(id -u)" -exec chmod u+rwx {} ';' 2>/dev/null
if rm --help 2>&1 | grep -q -e --one-file-system; then
  rm -rf --one-file-system -- "$name"
else
  rm -rf -- "$name"
fi
if [ -e "$name" ] || [ -L "$name" ]; then
  echo "SBX:remaining"
  find "$name" 2>/dev/null | head -n 50 | while IFS= read -r p; do printf '%s/%s\\n' "$phys" "$p"; done
  exit ${EXIT_REMAINING}
fi
echo "SBX:removed $phys/$name"
`;

const STATE_SCRIPT = `set -u
root=$1 name=$2
${CHECK_ARGS}
cd -P -- "$root" 2>/dev/null || { echo "SBX:root-missing"; exit 0; }
if [ -L "$name" ]; then echo "SBX:symlink"
elif [ -d "$name" ]; then echo "SBX:directory"
elif [ -e "$name" ]; then echo "SBX:other"
else echo "SBX:absent"
fi
`;

const LIST_SCRIPT = `set -u
root=$1
cd -P -- "$root" || { echo "workspace root $root does not exist or cannot be entered" >&2; exit ${EXIT_ROOT_INVALID}; }
pwd -P
for f in ${WORKSPACE_PREFIX}*; do
  if [ -d "$f" ] && [ ! -L "$f" ]; then printf '%s\\n' "$f"; fi
done
`;

function target(config: SshConfig): string {
  return describeTarget(config);
}

function run(pool: SshPool, config: SshConfig, script: string, args: string[], opts: RemoteWorkspaceOptions): Promise<ExecResult> {
  return pool.exec(config, ["sh", "-c", script, "sh", ...args], {
    timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    signal: opts.signal,
    // Each script checks before it acts (create reuses its own empty directory, remove finds it absent).
    idempotent: true,
  });
}

function marker(result: ExecResult): string | undefined {
  return result.stdout
    .split("\n")
    .find((l) => l.startsWith("SBX:"))
    ?.slice(4);
}

function scriptError(what: string, path: string, config: SshConfig, result: ExecResult): SshError {
  const message = lastLines(result.stderr, 4) || `exit code ${result.code ?? result.signal ?? "unknown"}`;
  const details = {
    path,
    host: config.host,
    port: config.port ?? 22,
    exitCode: result.code,
    stderrTail: lastLines(result.stderr, 20),
  };
  const text = `${what} ${path} on ${target(config)} failed: ${message}`;
  switch (result.code) {
    case EXIT_ROOT_INVALID:
    case EXIT_ROOT_NOT_WRITABLE:
    case EXIT_BAD_ARGS:
      return new SshError("SSH_WORKSPACE_ROOT_INVALID", text, { details });
    case EXIT_UNSAFE:
      return new SshError("SSH_WORKSPACE_UNSAFE", text, { details });
    case EXIT_EXISTS:
      return new SshError("SSH_WORKSPACE_EXISTS", text, { details });
    default:
      return new SshError("SSH_COMMAND_FAILED", text, { details });
  }
}

/**
 * Creates `<root>/sbx-<id>` (mode 0700 unless asked otherwise) after checking the root is a
 * writable directory. Returns the path and whether an empty leftover from a retried create was reused.
 */
export async function createRemoteWorkspace(
  pool: SshPool,
  config: SshConfig,
  root: string,
  id: string,
  opts: CreateRemoteWorkspaceOptions = {},
): Promise<{ path: string; result: "created" | "reused" }> {
  const path = remoteWorkspacePath(root, id);
  const mode = opts.mode ?? "0700";
  if (mode !== "0700" && mode !== "0755")
    throw new ValidationError(`bad workspace mode ${String(mode)}`, { mode: ["must be 0700 or 0755"] });
  const result = await run(pool, config, CREATE_SCRIPT, [root, workspaceName(id), mode], opts);
  const m = marker(result);
  if (result.code === 0 && m?.startsWith("created")) return { path, result: "created" };
  if (result.code === 0 && m?.startsWith("reused")) return { path, result: "reused" };
  throw scriptError("creating workspace", path, config, result);
}

/**
 * Removes exactly `<root>/sbx-<id>`, verified on the host to be a real directory directly under the
 * root (never a symlink, never followed). "absent" when it (or the whole root) is already gone.
 * Files that cannot be removed make it fail with SSH_WORKSPACE_REMOVE_INCOMPLETE, `details.remaining`
 * listing them; what could be removed is gone, and a retry is safe.
 */
export async function removeRemoteWorkspace(
  pool: SshPool,
  config: SshConfig,
  root: string,
  id: string,
  opts: RemoteWorkspaceOptions = {},
): Promise<{ result: "removed" | "absent"; path: string }> {
  // Computed (and so validated) before anything is sent: an empty or `/` root never leaves here.
  const path = remoteWorkspacePath(root, id);
  const result = await run(pool, config, REMOVE_SCRIPT, [root, workspaceName(id)], opts);
  const m = marker(result);
  if (result.code === 0 && m?.startsWith("removed")) return { result: "removed", path };
  if (result.code === 0 && m?.startsWith("absent")) return { result: "absent", path };
  if (result.code === EXIT_REMAINING) {
    const lines = result.stdout.split("\n");
    const remaining = lines.slice(lines.indexOf("SBX:remaining") + 1).filter((l) => l.length > 0);
    const reasons = lastLines(result.stderr, 3);
    throw new SshError(
      "SSH_WORKSPACE_REMOVE_INCOMPLETE",
      `removing workspace ${path} on ${target(config)} left ${remaining.length >= 50 ? "50+" : remaining.length} path(s) behind` +
        ` (owned by another user, or on another file system?): ${remaining.slice(0, 10).join(", ")}` +
        (reasons ? `\n${reasons}` : "") +
        `\nEverything else was removed; fix the ownership or permissions on the VM and retry.`,
      { details: { path, remaining, stderrTail: lastLines(result.stderr, 20) } },
    );
  }
  throw scriptError("removing workspace", path, config, result);
}

export type RemoteWorkspaceState = "directory" | "absent" | "symlink" | "other" | "root-missing";

/** What `<root>/sbx-<id>` is on the host, without following a symlink. */
export async function remoteWorkspaceState(
  pool: SshPool,
  config: SshConfig,
  root: string,
  id: string,
  opts: RemoteWorkspaceOptions = {},
): Promise<RemoteWorkspaceState> {
  const path = remoteWorkspacePath(root, id);
  const result = await run(pool, config, STATE_SCRIPT, [root, workspaceName(id)], opts);
  const m = marker(result);
  if (result.code === 0 && (m === "directory" || m === "absent" || m === "symlink" || m === "other" || m === "root-missing")) return m;
  throw scriptError("inspecting workspace", path, config, result);
}

/** True when `<root>/sbx-<id>` is a real directory (a symlink or a file there is not a workspace). */
export async function remoteWorkspaceExists(
  pool: SshPool,
  config: SshConfig,
  root: string,
  id: string,
  opts: RemoteWorkspaceOptions = {},
): Promise<boolean> {
  return (await remoteWorkspaceState(pool, config, root, id, opts)) === "directory";
}

/** Names (`sbx-<id>`) of the workspace directories under root; anything else there is ignored. */
export async function listRemoteWorkspaces(
  pool: SshPool,
  config: SshConfig,
  root: string,
  opts: RemoteWorkspaceOptions = {},
): Promise<string[]> {
  return (await listRemoteRoot(pool, config, root, opts)).names;
}

export interface RemoteRootListing {
  /** The root as given. */
  root: string;
  /** The root with every symlink resolved, on the host (two roots may be one directory). */
  realRoot: string;
  /** `sbx-<id>` directories directly under it (not symlinks), sorted. */
  names: string[];
}

/** The workspace directories under root, with the root's real path on the host. */
export async function listRemoteRoot(
  pool: SshPool,
  config: SshConfig,
  root: string,
  opts: RemoteWorkspaceOptions = {},
): Promise<RemoteRootListing> {
  validateWorkspaceRoot(root);
  const result = await run(pool, config, LIST_SCRIPT, [root], opts);
  if (result.code !== 0) throw scriptError("listing workspaces in", root, config, result);
  const [realRoot = root, ...lines] = result.stdout.split("\n");
  return {
    root,
    realRoot,
    names: lines.filter((n) => n.startsWith(WORKSPACE_PREFIX) && isSandboxId(n.slice(WORKSPACE_PREFIX.length))).sort(),
  };
}

/** Bytes available to the SSH user on the file system holding root (`df -Pk`). */
export async function remoteFreeSpace(pool: SshPool, config: SshConfig, root: string, opts: RemoteWorkspaceOptions = {}): Promise<number> {
  validateWorkspaceRoot(root);
  const result = await pool.exec(config, ["df", "-Pk", root], {
    timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    signal: opts.signal,
  });
  if (result.code !== 0) throw scriptError("checking free space of", root, config, result);
  // Columns: Filesystem 1024-blocks Used Available Capacity Mounted-on; names may contain spaces,
  // so anchor on the numeric run before the percentage.
  const lines = result.stdout.trim().split("\n");
  const m = /\s(\d+)\s+(\d+)\s+(\d+)\s+(\d+)%\s/.exec(` ${lines[lines.length - 1] ?? ""} `);
  if (!m) throw new SshError("SSH_COMMAND_FAILED", `unexpected df output for ${root} on ${target(config)}: ${lines.join(" | ")}`);
  return Number(m[3]) * 1024;
}
