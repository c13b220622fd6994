// The admin commands of the Hosts page: check a host now, pin a changed host key, adopt or clean up an
// orphan workspace. The work itself runs as operations (./operations/reconcile.ts, ./cleanup.ts).
import "server-only";

import { actorUserId, type Actor } from "../auth/actor";
import { can } from "../auth/policy";
import type { Prisma } from "../db/client";
import {
  deleteOrphan,
  findHost,
  findOrphan,
  findOrphanWithHost,
  listOrphanRows,
  toHostTarget,
  updateHost,
  type HostRow,
} from "../db/hosts";
import { hostOperationPending, insertOperation, operationCreate } from "../db/operations";
import { sandboxExists } from "../db/sandboxes";
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from "../errors";
import type { SshServices } from "../extensions/base";
import { WORKSPACE_PREFIX, isSandboxId } from "../sandbox-id";
import { audit } from "./audit";
import { extensionOf, type ManagerContext } from "./context";
import { publishHostChanged } from "./host-views";
import { insertSandbox } from "./transitions";

type Ctx = Pick<ManagerContext, "db" | "notifier" | "logger" | "catalog">;

/** The known_hosts file that alone decides a host's key (hosts.yaml names it and no pin), else null. */
export function knownHostsOnlyFile(ssh: SshServices | undefined, host: { id: string; hostKey: string }): string | null {
  try {
    const trust = ssh?.trustFor(host.id, host.hostKey || null);
    return trust && !("pinnedFingerprint" in trust) ? trust.knownHostsPath : null;
  } catch {
    return null; // no pin and no file: nothing trusted yet (pinning is how it gets one)
  }
}

/**
 * Refuses to pin a key for a host hosts.yaml trusts through a known_hosts file alone: the file decides
 * at every connection, so a pin here would be ignored; the new key belongs in the file.
 */
export function refuseKnownHostsOnly(ctx: Pick<ManagerContext, "ssh">, host: { id: string; hostKey: string }): void {
  const file = knownHostsOnlyFile(ctx.ssh, host);
  if (file)
    throw new ConflictError(
      "KEY_FROM_KNOWN_HOSTS",
      `${host.id}'s key is trusted through ${file} (hosts.yaml names no pin for it): verify the new key on the VM and put it in that file; nothing is pinned here`,
      { knownHostsFile: file },
    );
}

function requireHostManager(actor: Actor): void {
  if (!can(actor, "host.manage")) throw new ForbiddenError("This needs the admin role");
}

async function requireHost(ctx: Pick<ManagerContext, "db">, hostId: string): Promise<HostRow> {
  const host = await findHost(ctx.db, hostId);
  if (!host) throw new NotFoundError("Host", hostId);
  return host;
}

/** Queues a health check + drift reconciliation of a host unless one is already waiting or running. */
export async function requestReconcile(
  ctx: Pick<ManagerContext, "db" | "notifier">,
  hostId: string,
  actor: Actor | null,
): Promise<boolean> {
  await requireHost(ctx, hostId);
  if (await hostOperationPending(ctx.db, "reconcile", hostId)) return false;
  await insertOperation(ctx.db, operationCreate({ kind: "reconcile", hostId, maxAttempts: 1, actorId: actor ? actorUserId(actor) : null }));
  ctx.notifier.operationQueued();
  return true;
}

/** An admin's "Check now". */
export async function checkHost(ctx: Ctx, actor: Actor, hostId: string): Promise<boolean> {
  requireHostManager(actor);
  return requestReconcile(ctx, hostId, actor);
}

/** Pins a new host key (after verifying the VM was rebuilt). `fingerprint` must be what the host offered. */
export async function pinHostKey(ctx: Ctx & Pick<ManagerContext, "ssh">, actor: Actor, hostId: string, fingerprint: string): Promise<void> {
  requireHostManager(actor);
  const host = await requireHost(ctx, hostId);
  refuseKnownHostsOnly(ctx, host);
  if (!/^SHA256:[A-Za-z0-9+/]{43}$/.test(fingerprint))
    throw new ValidationError("Not a SHA256 fingerprint", { fingerprint: ['expected "SHA256:" and 43 base64 characters'] });
  if (host.health !== "key_changed" || host.offeredHostKey !== fingerprint) {
    throw new ConflictError("KEY_NOT_OFFERED", `${hostId} is not offering ${fingerprint}; run a check first and pin the key it reports`);
  }
  await updateHost(ctx.db, hostId, {
    hostKey: fingerprint,
    offeredHostKey: null,
    hostPublicKey: null,
    health: "unknown",
    healthDetail: "New key pinned; checking…",
  });
  await publishHostChanged(ctx, hostId);
  await audit(ctx, {
    actor,
    action: "host.pin_key",
    target: hostId,
    result: "ok",
    message: `${hostId}: pinned ${fingerprint} (was ${host.hostKey})`,
    data: { from: host.hostKey, to: fingerprint },
  });
  await requestReconcile(ctx, hostId, actor);
}

/**
 * Creates a record for an orphan workspace, owned by the admin, through the extension that recognised
 * it (a compose project becomes a compose sandbox), so it can be used or destroyed normally.
 */
export async function adoptOrphan(
  ctx: Ctx,
  actor: Actor,
  orphanId: string,
  signal: AbortSignal = new AbortController().signal,
): Promise<string> {
  requireHostManager(actor);
  const ownerId = actorUserId(actor);
  if (!ownerId) throw new ValidationError("Adopted workspaces need a person as owner");
  const orphan = await findOrphanWithHost(ctx.db, orphanId);
  if (!orphan) throw new NotFoundError("Orphan workspace", orphanId);
  const id = orphan.name.slice(WORKSPACE_PREFIX.length);
  if (!isSandboxId(id)) throw new ValidationError(`${orphan.name} is not a sandbox workspace name`);
  if (await sandboxExists(ctx.db, id)) {
    throw new ConflictError("ID_TAKEN", `A sandbox record ${id} already exists (destroyed); clean this workspace up instead`);
  }
  const extension = extensionOf(ctx, orphan.extensionId);
  const host = toHostTarget(orphan.host);
  const found = { sandboxId: id, path: orphan.path, realPath: orphan.path, claim: "generic" as const };
  const handle = extension ? await extension.adopt(found, { host, signal }) : null;
  if (!extension || !handle) {
    throw new ConflictError("NOT_ADOPTABLE", `${orphan.extensionId} cannot adopt ${orphan.path}; clean it up instead`, {
      extension: orphan.extensionId,
    });
  }
  const now = new Date();
  await insertSandbox(ctx, {
    row: {
      id,
      ownerId,
      profileId: "adopted",
      extensionId: extension.id,
      hostId: orphan.hostId,
      statusReason: `Adopted from ${orphan.host.title} by ${actor.label}`,
      handle: extension.handleSchema.parse(handle) as Prisma.InputJsonValue,
      params: {},
      input: {},
      readyAt: now,
      expiresAt: new Date(now.getTime() + 8 * 3_600_000),
      maxExpiresAt: new Date(now.getTime() + 72 * 3_600_000),
    },
    status: "ready",
    event: { message: `Adopted from ${orphan.path} on ${orphan.host.title} by ${actor.label}`, actorId: ownerId, actorLabel: actor.label },
    audit: {
      actor,
      action: "host.adopt",
      target: id,
      result: "ok",
      message: `Adopted ${orphan.path} on ${orphan.host.title} as sandbox ${id}`,
      data: { host: orphan.hostId, path: orphan.path, extension: extension.id },
    },
    also: (tx) => deleteOrphan(tx, orphan.hostId, orphan.name),
  });
  return id;
}

/** Queues the guarded removal of an orphan workspace (exactly `<root>/sbx-<id>`), audited. */
export async function cleanUpOrphan(ctx: Ctx, actor: Actor, orphanId: string): Promise<void> {
  requireHostManager(actor);
  const orphan = await findOrphan(ctx.db, orphanId);
  if (!orphan) throw new NotFoundError("Orphan workspace", orphanId);
  const root = orphan.path.slice(0, orphan.path.lastIndexOf("/")) || "/";
  const payload = { name: orphan.name, root };
  if (!(await hostOperationPending(ctx.db, "cleanup", orphan.hostId, payload))) {
    await insertOperation(
      ctx.db,
      operationCreate({ kind: "cleanup", hostId: orphan.hostId, maxAttempts: 1, actorId: actorUserId(actor), payload }),
    );
  }
  await audit(ctx, {
    actor,
    action: "host.cleanup",
    target: orphan.path,
    result: "ok",
    message: `Clean-up of ${orphan.path} on ${orphan.hostId} requested`,
    data: { host: orphan.hostId, path: orphan.path },
  });
  ctx.notifier.operationQueued();
}

export interface OrphanView {
  id: string;
  hostId: string;
  name: string;
  path: string;
  extensionId: string;
  firstSeenAt: string;
  lastSeenAt: string;
}

export async function listOrphans(ctx: Pick<ManagerContext, "db">): Promise<OrphanView[]> {
  const rows = await listOrphanRows(ctx.db);
  return rows.map((o) => ({ ...o, firstSeenAt: o.firstSeenAt.toISOString(), lastSeenAt: o.lastSeenAt.toISOString() }));
}
