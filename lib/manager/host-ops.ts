// Host health and drift reconciliation, run by workers as `reconcile` operations (periodically for
// every host, and on demand from the Hosts page), plus the admin actions that resolve what they find:
// pin a changed host key, adopt or clean up an orphan workspace, close a missing sandbox.
//
// Rules: a host that fails its check gets no new sandboxes until a check passes again; a changed key
// puts the host in `key_changed`, which only an admin clears (both fingerprints shown, audited); the
// reconciler never deletes anything on its own — orphans wait for an admin's Adopt or Clean up.
import "server-only";

import { actorUserId, isAdmin, type Actor } from "../auth/actor";
import type { Prisma } from "../db/client";
import { eventCreate } from "../db/events";
import { toHostTarget, type HostRow } from "../db/hosts";
import { operationCreate, type OperationRow } from "../db/operations";
import { transitionWithEvent } from "../db/sandboxes";
import { ConflictError, ForbiddenError, NotFoundError, ValidationError, hasCode, isSandboxerError } from "../errors";
import { remoteHandleFor, sshConfigForHost } from "../extensions/remote/ssh-target";
import { WORKSPACE_PREFIX, isSandboxId } from "../sandbox-id";
import { listRemoteWorkspaces, publicKeyLine, remoteFreeSpace, removeRemoteWorkspace } from "../ssh";
import type { Manager } from "./manager";

/** Statuses whose workspace the reconciler expects to find on the host. */
const EXPECT_WORKSPACE = ["ready"];
/** Statuses whose record accounts for a workspace (it may or may not exist yet / any more). */
const ACCOUNTED = ["queued", "creating", "ready", "failed", "destroying", "destroy_failed", "missing"];

function requireAdmin(actor: Actor): void {
  if (!isAdmin(actor)) throw new ForbiddenError("This needs the admin role");
}

async function requireHost(m: Manager, hostId: string): Promise<HostRow> {
  const host = await m.db.buildHost.findUnique({ where: { id: hostId } });
  if (!host) throw new NotFoundError("Host", hostId);
  return host;
}

/** Queues a health check + drift reconciliation of a host unless one is already waiting or running. */
export async function requestReconcile(m: Manager, hostId: string, actor: Actor | null): Promise<boolean> {
  await requireHost(m, hostId);
  const pending = await m.db.operation.count({ where: { kind: "reconcile", hostId, state: { in: ["queued", "running"] } } });
  if (pending > 0) return false;
  await m.db.operation.create(operationCreate({ kind: "reconcile", hostId, maxAttempts: 1, actorId: actor ? actorUserId(actor) : null }));
  m.notifier.operationQueued();
  return true;
}

/** Runs one reconcile operation: health first; drift only when the host answered with the pinned key. */
export async function runReconcile(m: Manager, op: OperationRow, signal: AbortSignal): Promise<string> {
  const host = await requireHost(m, op.hostId!);
  if (!m.ssh) return "No SSH configuration on this server";
  const target = toHostTarget(host);
  const config = sshConfigForHost(m.ssh, target);
  const now = new Date();
  let freeBytes: number;
  try {
    const blob = await m.ssh.pool.verifiedHostKey(config, { signal });
    freeBytes = await remoteFreeSpace(m.ssh.pool, config, host.workspaceRoot, { signal, timeoutMs: 30_000 });
    // verifiedHostKey checked the key against host.hostKey (sshConfigForHost pins it).
    await m.ssh.rememberHostKey(host.id, publicKeyLine(blob));
  } catch (e) {
    if (hasCode(e, "SSH_HOST_KEY_CHANGED")) {
      const offered = String((e.details as { offeredFingerprint?: string } | undefined)?.offeredFingerprint ?? "");
      if (host.health !== "key_changed" || host.offeredHostKey !== offered) {
        await m.db.buildHost.update({
          where: { id: host.id },
          data: { health: "key_changed", offeredHostKey: offered, healthDetail: e.message, checkedAt: now },
        });
        await m.audit(
          { kind: "system", label: "system (host health)" },
          "host.key_changed",
          host.id,
          "failed",
          `${host.id}: pinned ${host.hostKey}, offered ${offered}; new sandboxes stop until an admin pins a key`,
          {
            pinned: host.hostKey,
            offered,
          },
        );
      } else {
        await m.db.buildHost.update({ where: { id: host.id }, data: { checkedAt: now } });
      }
      return `host key changed (offered ${offered})`;
    }
    const detail = isSandboxerError(e) ? e.message : (e as Error).message;
    // A host in key_changed stays there until an admin acts, whatever else happens.
    await m.db.buildHost.update({
      where: { id: host.id },
      data:
        host.health === "key_changed"
          ? { checkedAt: now }
          : { health: host.health === "disabled" ? "disabled" : "unreachable", healthDetail: detail, checkedAt: now },
    });
    return `unreachable: ${detail}`;
  }
  await m.db.buildHost.update({
    where: { id: host.id },
    data: {
      ...(host.health === "disabled" ? {} : { health: "healthy", healthDetail: null }),
      offeredHostKey: null,
      freeBytes: BigInt(freeBytes),
      checkedAt: now,
      healthyAt: now,
    },
  });
  const drift = await reconcileWorkspaces(m, host, signal);
  return `healthy, ${Math.round(freeBytes / 2 ** 20)} MiB free; ${drift}`;
}

/** Compares `<root>/sbx-*` on the host with the records; records orphans and missing workspaces. */
async function reconcileWorkspaces(m: Manager, host: HostRow, signal: AbortSignal): Promise<string> {
  const config = sshConfigForHost(m.ssh!, toHostTarget(host));
  const names = await listRemoteWorkspaces(m.ssh!.pool, config, host.workspaceRoot, { signal, timeoutMs: 60_000 });
  const onHost = new Set(names.map((n) => n.slice(WORKSPACE_PREFIX.length)));
  // Records on this host, and records that name this host's root in their handle (created before a
  // hostId was set, or adopted).
  const records = await m.db.sandbox.findMany({
    where: { hostId: host.id, status: { in: ACCOUNTED } },
    select: { id: true, status: true, handle: true },
  });
  const known = new Set(records.map((r) => r.id));
  const now = new Date();
  // Orphans: on the host, no live record.
  const orphanIds = [...onHost].filter((id) => !known.has(id));
  for (const id of orphanIds) {
    const name = `${WORKSPACE_PREFIX}${id}`;
    await m.db.orphanWorkspace.upsert({
      where: { hostId_name: { hostId: host.id, name } },
      create: { id: `${host.id}/${name}`, hostId: host.id, name, path: `${host.workspaceRoot}/${name}`, lastSeenAt: now },
      update: { lastSeenAt: now, path: `${host.workspaceRoot}/${name}` },
    });
  }
  await m.db.orphanWorkspace.deleteMany({ where: { hostId: host.id, name: { notIn: orphanIds.map((id) => `${WORKSPACE_PREFIX}${id}`) } } });
  // Missing: a ready record whose workspace is gone; and the other way round when it comes back.
  let missing = 0;
  let back = 0;
  for (const r of records) {
    if (EXPECT_WORKSPACE.includes(r.status) && !onHost.has(r.id)) {
      const reason = `The workspace vanished from ${host.title} (found by reconciliation at ${now.toISOString()}); destroy the sandbox to close it`;
      if (
        await m.db.$transaction((tx) =>
          transitionWithEvent(tx, r.id, ["ready"], "missing", { statusReason: reason }, { level: "warn", message: `Missing: ${reason}` }),
        )
      ) {
        m.notifier.sandboxChanged(r.id);
        missing++;
      }
    } else if (r.status === "missing" && onHost.has(r.id)) {
      if (
        await m.db.$transaction((tx) =>
          transitionWithEvent(tx, r.id, ["missing"], "ready", { statusReason: null }, { message: "The workspace is back on the host" }),
        )
      ) {
        m.notifier.sandboxChanged(r.id);
        back++;
      }
    }
  }
  return `${names.length} workspaces, ${orphanIds.length} orphan${orphanIds.length === 1 ? "" : "s"}, ${missing} newly missing${back ? `, ${back} back` : ""}`;
}

// ─── Admin actions ───────────────────────────────────────────────────────────────────────────────

/** Pins a new host key (after verifying the VM was rebuilt). `fingerprint` must be what the host offered. */
export async function pinHostKey(m: Manager, actor: Actor, hostId: string, fingerprint: string): Promise<void> {
  requireAdmin(actor);
  const host = await requireHost(m, hostId);
  if (!/^SHA256:[A-Za-z0-9+/]{43}$/.test(fingerprint))
    throw new ValidationError("Not a SHA256 fingerprint", { fingerprint: ['expected "SHA256:" and 43 base64 characters'] });
  if (host.health !== "key_changed" || host.offeredHostKey !== fingerprint) {
    throw new ConflictError("KEY_NOT_OFFERED", `${hostId} is not offering ${fingerprint}; run a check first and pin the key it reports`);
  }
  await m.db.buildHost.update({
    where: { id: hostId },
    data: { hostKey: fingerprint, offeredHostKey: null, hostPublicKey: null, health: "unknown", healthDetail: "New key pinned; checking…" },
  });
  await m.audit(actor, "host.pin_key", hostId, "ok", `${hostId}: pinned ${fingerprint} (was ${host.hostKey})`, {
    from: host.hostKey,
    to: fingerprint,
  });
  await requestReconcile(m, hostId, actor);
}

/** Creates a record for an orphan workspace, owned by the admin, so it can be used or destroyed normally. */
export async function adoptOrphan(m: Manager, actor: Actor, orphanId: string): Promise<string> {
  requireAdmin(actor);
  const ownerId = actorUserId(actor);
  if (!ownerId) throw new ValidationError("Adopted workspaces need a person as owner");
  const orphan = await m.db.orphanWorkspace.findUnique({ where: { id: orphanId }, include: { host: true } });
  if (!orphan) throw new NotFoundError("Orphan workspace", orphanId);
  const id = orphan.name.slice(WORKSPACE_PREFIX.length);
  if (!isSandboxId(id)) throw new ValidationError(`${orphan.name} is not a sandbox workspace name`);
  if (await m.db.sandbox.findUnique({ where: { id }, select: { id: true } })) {
    throw new ConflictError("ID_TAKEN", `A sandbox record ${id} already exists (destroyed); clean this workspace up instead`);
  }
  const handle = remoteHandleFor("ext.vm-packer", toHostTarget(orphan.host), orphan.host.workspaceRoot, id);
  const now = new Date();
  await m.db.$transaction([
    m.db.sandbox.create({
      data: {
        id,
        ownerId,
        profileId: "adopted",
        extensionId: "ext.vm-packer",
        hostId: orphan.hostId,
        status: "ready",
        statusReason: `Adopted from ${orphan.host.title} by ${actor.label}`,
        handle: handle as Prisma.InputJsonValue,
        params: {},
        input: {},
        readyAt: now,
        expiresAt: new Date(now.getTime() + 8 * 3_600_000),
        maxExpiresAt: new Date(now.getTime() + 72 * 3_600_000),
      },
    }),
    m.db.event.create(
      eventCreate({
        sandboxId: id,
        type: "state",
        message: `Adopted from ${orphan.path} on ${orphan.host.title} by ${actor.label}`,
        data: { status: "ready" },
        actorId: ownerId,
        actorLabel: actor.label,
      }),
    ),
    m.db.orphanWorkspace.delete({ where: { id: orphanId } }),
  ]);
  await m.audit(actor, "host.adopt", id, "ok", `Adopted ${orphan.path} on ${orphan.host.title} as sandbox ${id}`, {
    host: orphan.hostId,
    path: orphan.path,
  });
  m.notifier.sandboxChanged(id);
  return id;
}

/** Queues the guarded removal of an orphan workspace (exactly `<root>/sbx-<id>`), audited. */
export async function cleanUpOrphan(m: Manager, actor: Actor, orphanId: string): Promise<void> {
  requireAdmin(actor);
  const orphan = await m.db.orphanWorkspace.findUnique({ where: { id: orphanId } });
  if (!orphan) throw new NotFoundError("Orphan workspace", orphanId);
  const pending = await m.db.operation.count({
    where: { kind: "cleanup", hostId: orphan.hostId, state: { in: ["queued", "running"] }, payload: { equals: { name: orphan.name } } },
  });
  if (pending === 0) {
    await m.db.operation.create(
      operationCreate({
        kind: "cleanup",
        hostId: orphan.hostId,
        maxAttempts: 1,
        actorId: actorUserId(actor),
        payload: { name: orphan.name },
      }),
    );
  }
  await m.audit(actor, "host.cleanup", orphan.path, "ok", `Clean-up of ${orphan.path} on ${orphan.hostId} requested`, {
    host: orphan.hostId,
    path: orphan.path,
  });
  m.notifier.operationQueued();
}

/** Runs a cleanup operation: re-checks that no record claims the workspace, then the guarded removal. */
export async function runCleanup(m: Manager, op: OperationRow, signal: AbortSignal): Promise<string> {
  const host = await requireHost(m, op.hostId!);
  const name = String((op.payload as { name?: unknown } | null)?.name ?? "");
  const id = name.slice(WORKSPACE_PREFIX.length);
  if (!name.startsWith(WORKSPACE_PREFIX) || !isSandboxId(id)) throw new ValidationError(`not a workspace name: ${JSON.stringify(name)}`);
  const claimed = await m.db.sandbox.findFirst({ where: { id, status: { in: ACCOUNTED } }, select: { id: true, status: true } });
  if (claimed) throw new ConflictError("WORKSPACE_CLAIMED", `Sandbox ${id} (${claimed.status}) now accounts for ${name}; not removing it`);
  const config = sshConfigForHost(m.ssh!, toHostTarget(host));
  const r = await removeRemoteWorkspace(m.ssh!.pool, config, host.workspaceRoot, id, { signal, timeoutMs: 10 * 60_000 });
  await m.db.orphanWorkspace.deleteMany({ where: { hostId: host.id, name } });
  const actor = op.actorId ? await m.db.user.findUnique({ where: { id: op.actorId }, select: { email: true } }) : null;
  await m.db.event.create(
    eventCreate({
      type: "audit",
      action: "host.cleanup",
      target: r.path,
      result: "ok",
      message: r.result === "removed" ? `Removed orphan ${r.path} on ${host.title}` : `Orphan ${r.path} on ${host.title} was already gone`,
      actorId: op.actorId,
      actorLabel: actor?.email ?? "system",
    }),
  );
  return r.result;
}

export interface OrphanView {
  id: string;
  hostId: string;
  name: string;
  path: string;
  firstSeenAt: string;
  lastSeenAt: string;
}

export async function listOrphans(m: Manager): Promise<OrphanView[]> {
  const rows = await m.db.orphanWorkspace.findMany({ orderBy: [{ hostId: "asc" }, { name: "asc" }] });
  return rows.map((o) => ({ ...o, firstSeenAt: o.firstSeenAt.toISOString(), lastSeenAt: o.lastSeenAt.toISOString() }));
}
