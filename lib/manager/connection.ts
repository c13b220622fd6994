// How a person reaches an SSH sandbox from their own machine (the CLI's `ssh`, `exec` and `run`):
// host, port, user, workspace and a known_hosts line for exactly the key the server verified. The
// line is built from the registry's `hostPublicKey` (the full key seen at the last verified
// connection) and is only handed out while its fingerprint is the pinned one, so the client trusts
// what the server trusts and nothing else. Private keys never appear here: the client brings its own.
import "server-only";

import { z } from "zod";

import { ConflictError } from "../errors";
import { remoteHandleShape } from "../extensions/remote/ssh-target";
import { fingerprintOfKey, keyTypeOfBlob, knownHostsLine, normalizeFingerprint } from "../ssh";
import { hostKeys } from "../db/hosts";
import type { Manager } from "./manager";

export interface ConnectionView {
  sandboxId: string;
  /** The registered build host, when the sandbox is on one. */
  hostId: string | null;
  host: string;
  port: number;
  user: string;
  workspacePath: string;
  /** The pinned host key fingerprint, "SHA256:…". */
  hostKey: string;
  /** `[host]:port <type> <base64>` (or `host <type> <base64>` on port 22) for a throwaway known_hosts. */
  knownHostsLine: string;
}

// Extensions built on the shared remote handle may add fields of their own (compose-ssh will), so the
// shape is read leniently here; the extension's own strict schema guards create and destroy.
const remoteHandle = z.object(remoteHandleShape);

/**
 * The connection details of a ready SSH sandbox. Throws NotFoundError, or ConflictError
 * NOT_CONNECTABLE (not ready, not on a build VM) / HOST_KEY_UNKNOWN (no verified full key to hand out).
 */
export async function sandboxConnection(manager: Pick<Manager, "db" | "requireSandbox">, id: string): Promise<ConnectionView> {
  const sandbox = await manager.requireSandbox(id);
  const parsed = remoteHandle.safeParse(sandbox.handle);
  if (!parsed.success) {
    throw new ConflictError(
      "NOT_CONNECTABLE",
      `Sandbox ${id} (${sandbox.extensionId}) has no SSH endpoint${sandbox.handle ? ": its workspace is not on a build VM" : " yet"}`,
      { status: sandbox.status, extension: sandbox.extensionId },
    );
  }
  if (sandbox.status !== "ready") {
    throw new ConflictError("NOT_CONNECTABLE", `Sandbox ${id} is ${sandbox.status}; only a ready sandbox can be connected to`, {
      status: sandbox.status,
    });
  }
  const handle = parsed.data;
  const where = `${handle.vm_target}:${handle.ssh_port}`;
  const host = handle.host_id ? await hostKeys(manager.db, handle.host_id) : null;
  // The same pin the extension uses: an admin's re-pin of a rebuilt VM wins over the handle's copy.
  // (A host trusted through a known_hosts file has the fingerprint the file last verified, or "" before that.)
  const recorded = host?.hostKey || handle.host_key;
  const pinned = recorded ? normalizeFingerprint(recorded) : "";
  const seen = host?.hostPublicKey?.trim().split(/\s+/);
  if (!pinned || !seen || seen.length < 2) {
    throw new ConflictError(
      "HOST_KEY_UNKNOWN",
      `The server has not recorded the full host key of ${where} yet (it does on its first verified connection); ` +
        `it cannot give you a known_hosts line. Create a sandbox on that host or ask an admin to check it.`,
      { host: where, pinned },
    );
  }
  const blob = Buffer.from(seen[1]!, "base64");
  let type: string | null = null;
  try {
    type = keyTypeOfBlob(blob);
  } catch {
    // A malformed stored key is treated like a missing one below.
  }
  const offered = type ? fingerprintOfKey(blob) : null;
  if (!type || type !== seen[0] || offered !== pinned) {
    throw new ConflictError(
      "HOST_KEY_UNKNOWN",
      `The host key last seen on ${where} (${offered ?? "unreadable"}) is not the pinned ${pinned}; ` +
        `the server will record the right one on its next verified connection.`,
      { host: where, pinned, seen: offered },
    );
  }
  return {
    sandboxId: id,
    hostId: handle.host_id ?? null,
    host: handle.vm_target,
    port: handle.ssh_port,
    user: handle.ssh_user,
    workspacePath: handle.workspace_path,
    hostKey: pinned,
    knownHostsLine: knownHostsLine(handle.vm_target, handle.ssh_port, blob),
  };
}
