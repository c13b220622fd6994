// The SSH layer's run-time directories in the system temp directory: an OpenSSH master's control
// socket (sbx-mux-*) and rsync's pinned known_hosts (sbx-rsync-*). They must live there, not in the
// data directory, because a Unix socket path is limited to ~100 bytes. Each is named after the process
// that owns it (sbx-mux-<pid>-XXXXXX), so a process starting after a crash (SIGKILL, OOM) removes the
// ones whose owner is gone; a live owner's are never touched.
import "server-only";

import { readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

export type TempDirKind = "mux" | "rsync";

const OWNED = /^sbx-(?:mux|rsync)-(\d+)-[A-Za-z0-9]{6}$/;

/** The mkdtemp prefix for a directory of this process: `<tmp>/sbx-<kind>-<pid>-`. */
export function ownedTempPrefix(kind: TempDirKind, dir = tmpdir()): string {
  return path.join(dir, `sbx-${kind}-${process.pid}-`);
}

/** Whether a process with this id exists (EPERM: it does, under another account). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes `sbx-mux-<pid>-*` and `sbx-rsync-<pid>-*` directories whose process is gone. Returns the
 * paths removed. Never throws: a directory it cannot remove (another account's) is left.
 */
export async function sweepDeadTempDirs(dir = tmpdir(), alive: (pid: number) => boolean = processAlive): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = OWNED.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || alive(pid)) continue;
    const full = path.join(dir, name);
    try {
      await rm(full, { recursive: true, force: true });
      removed.push(full);
    } catch {
      /* another account's directory, or already gone */
    }
  }
  return removed;
}
