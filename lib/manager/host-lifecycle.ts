// A build host's life as an admin sees it: added from the dashboard (the offered host key shown and
// confirmed, never trusted on first use), edited, cordoned (no new sandboxes, whatever its health),
// drained (cordoned, idle pool members gone, and a list of what still runs and when it expires), and
// removed once nothing lives there. Hosts from hosts.yaml stay configuration as code: the file wins,
// so they are cordoned and drained here but edited and removed in the file. Every change is audited.
import "server-only";

import type { Actor } from "../auth/actor";
import { can } from "../auth/policy";
import {
  createHost,
  deleteHostMarked,
  endHostEditing,
  markHostEditing,
  editHost,
  findHost,
  hostLabels,
  liveSandboxesOnHost,
  tunnelPortHolder,
  updateHost,
  type HostEdit,
  type HostRow,
} from "../db/hosts";
import { evictableMember } from "../db/pools";
import { uniqueViolationFields } from "../db/unique";
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from "../errors";
import type { SshServices } from "../extensions/base";
import { hasCode } from "../errors";
import { audit } from "./audit";
import type { ManagerContext } from "./context";
import { refuseKnownHostsOnly, requestReconcile } from "./host-ops";
import { publishHostChanged } from "./host-views";
import { retireMember } from "./pools";
import { parseStatus } from "./states";

type Ctx = Pick<ManagerContext, "db" | "notifier" | "logger" | "ssh">;

export interface RemainingSandbox {
  id: string;
  owner: string;
  profileId: string;
  status: string;
  expiresAt: string | null;
}

export interface HostDrainView {
  hostId: string;
  cordoned: boolean;
  cordonReason: string | null;
  drainedAt: string | null;
  /** Idle warm-pool members the drain retired (their teardown is queued). */
  poolMembersDestroyed: number;
  /** Warm-pool members still on the host: being torn down after a drain, or pooled on a cordoned host. */
  poolMembersLeft: number;
  /** People's sandboxes that still run there, soonest expiry first. */
  remaining: RemainingSandbox[];
  /** One line for people: "2 sandboxes still run; the last expires at …". */
  summary: string;
}

function requireHostManager(actor: Actor): void {
  if (!can(actor, "host.manage")) throw new ForbiddenError("This needs the admin role");
}

async function requireHost(ctx: Pick<ManagerContext, "db">, hostId: string): Promise<HostRow> {
  const host = await findHost(ctx.db, hostId);
  if (!host) throw new NotFoundError("Host", hostId);
  return host;
}

function cleanReason(reason: string | undefined): string | null {
  // A person's free text, shown on pages and in queue reasons: one line, no control characters, bounded.
  const r = (reason ?? "")
    .replace(/[\u0000-\u001f\u007f]+/g, " ")
    .trim()
    .slice(0, 200);
  return r || null;
}

/** What still runs on a host and when it goes, for the host page and the drain's answer. */
export async function hostDrainReport(ctx: Pick<ManagerContext, "db">, hostId: string, poolMembersDestroyed = 0): Promise<HostDrainView> {
  const host = await requireHost(ctx, hostId);
  const all = await liveSandboxesOnHost(ctx.db, hostId);
  // Members are the system's, not what a person waits for; a claimed one has left the pool (poolKey null).
  const rows = all.filter((r) => r.poolKey === null);
  const poolMembersLeft = all.length - rows.length;
  const remaining = rows.map((r) => ({
    id: r.id,
    owner: r.owner.email,
    profileId: r.profileId,
    status: r.status,
    expiresAt: r.expiresAt ? r.expiresAt.toISOString() : null,
  }));
  const last = remaining.reduce<string | null>((acc, r) => (r.expiresAt && (!acc || r.expiresAt > acc) ? r.expiresAt : acc), null);
  const members =
    poolMembersLeft === 0
      ? ""
      : `; ${poolMembersLeft} warm-pool member${poolMembersLeft === 1 ? "" : "s"} ${host.drainedAt ? "being torn down" : "pooled"}`;
  const summary =
    remaining.length === 0
      ? poolMembersLeft === 0
        ? `Nothing runs on ${host.title}: it can be rebuilt or removed`
        : `No sandboxes run on ${host.title}${members}`
      : `${remaining.length} sandbox${remaining.length === 1 ? "" : "es"} still run${remaining.length === 1 ? "s" : ""} on ${host.title}` +
        (last ? `; the last expires at ${last}` : "") +
        members;
  return {
    hostId,
    cordoned: host.cordoned,
    cordonReason: host.cordonReason,
    drainedAt: host.drainedAt ? host.drainedAt.toISOString() : null,
    poolMembersDestroyed,
    poolMembersLeft,
    remaining,
    summary,
  };
}

/** Cordon: no new sandboxes or pool members on the host; what runs there keeps running. Idempotent. */
export async function cordonHost(ctx: Ctx, actor: Actor, hostId: string, reason?: string): Promise<HostDrainView> {
  requireHostManager(actor);
  const host = await requireHost(ctx, hostId);
  const why = cleanReason(reason) ?? `cordoned by ${actor.label}`;
  await updateHost(ctx.db, hostId, { cordoned: true, cordonReason: why, cordonedAt: new Date(), cordonedBy: actor.label });
  await publishHostChanged(ctx, hostId);
  await audit(ctx, {
    actor,
    action: "host.cordon",
    target: hostId,
    result: "ok",
    message: `${hostId}: cordoned (${why})${host.cordoned ? "; it already was" : ""}`,
    data: { reason: why },
  });
  return hostDrainReport(ctx, hostId);
}

/** Uncordon: the host takes new sandboxes again (creates waiting for it proceed at their next try). */
export async function uncordonHost(ctx: Ctx, actor: Actor, hostId: string): Promise<HostDrainView> {
  requireHostManager(actor);
  const host = await requireHost(ctx, hostId);
  await updateHost(ctx.db, hostId, { cordoned: false, cordonReason: null, cordonedAt: null, cordonedBy: null, drainedAt: null });
  await publishHostChanged(ctx, hostId);
  await audit(ctx, {
    actor,
    action: "host.uncordon",
    target: hostId,
    result: "ok",
    message: `${hostId}: uncordoned${host.cordoned ? "" : " (it was not cordoned)"}`,
  });
  ctx.notifier.operationQueued();
  return hostDrainReport(ctx, hostId);
}

/**
 * Drain: cordon, retire the idle warm-pool members there (ready or still being made; their teardown
 * is queued), and report what still runs and when it expires. Sandboxes in use are never destroyed.
 */
export async function drainHost(
  ctx: Ctx & Pick<ManagerContext, "config" | "runningOperations">,
  actor: Actor,
  hostId: string,
  reason?: string,
): Promise<HostDrainView> {
  requireHostManager(actor);
  const host = await requireHost(ctx, hostId);
  const why = cleanReason(reason) ?? (host.cordoned && host.cordonReason ? host.cordonReason : `drained by ${actor.label}`);
  const now = new Date();
  await updateHost(ctx.db, hostId, {
    cordoned: true,
    cordonReason: why,
    cordonedAt: host.cordonedAt ?? now,
    cordonedBy: host.cordonedBy ?? actor.label,
    drainedAt: now,
  });
  let retired = 0;
  // Bounded: a host holds at most its capacity of members.
  for (let i = 0; i <= host.capacity; i++) {
    const member = await evictableMember(ctx.db, hostId);
    if (!member) break;
    if (await retireMember(ctx, member.id, parseStatus(member.status), `The host ${host.title} is being drained (${why})`, actor))
      retired++;
  }
  const report = await hostDrainReport(ctx, hostId, retired);
  await publishHostChanged(ctx, hostId);
  await audit(ctx, {
    actor,
    action: "host.drain",
    target: hostId,
    result: "ok",
    message: `${hostId}: drained (${why}); ${report.summary}`,
    data: { reason: why, remaining: report.remaining.map((r) => r.id) },
  });
  return report;
}

// ─── Adding, confirming, editing and removing hosts ─────────────────────────────────────────────

export interface AddHostInput {
  id: string;
  title?: string;
  /** The VM's address; omit with tunnelPort (then 127.0.0.1:<tunnelPort>). */
  address?: string;
  port?: number;
  tunnelPort?: number;
  user: string;
  labels?: string[];
  capacity?: number;
  workspaceRoot?: string;
  markerPath?: string;
}

export interface AddedHostView {
  hostId: string;
  /** The fingerprint the host offered, for the admin to compare with the VM's own. */
  offeredHostKey: string;
  /** What to run on the VM to see its fingerprint. */
  verifyCommand: string;
}

/** A fingerprint no host can offer: connecting with it pinned makes the host name the key it does offer. */
const NO_KEY = `SHA256:${"A".repeat(43)}`;

export const VERIFY_COMMAND = 'for k in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -lf "$k" -E sha256; done';

/** Connects once with a pin that cannot match, to learn which key the host offers (nothing is trusted). */
export async function probeOfferedKey(
  ssh: SshServices,
  target: { id: string; address: string; port: number; user: string },
  signal?: AbortSignal,
): Promise<string> {
  try {
    await ssh.pool.verifiedHostKey(
      {
        host: target.address,
        port: target.port,
        user: target.user,
        identity: ssh.identityFor(target.id),
        trust: { pinnedFingerprint: NO_KEY },
        readyTimeoutMs: ssh.readyTimeoutMs,
      },
      { signal },
    );
  } catch (e) {
    if (hasCode(e, "SSH_HOST_KEY_CHANGED")) {
      const offered = String((e.details as { offeredFingerprint?: string } | undefined)?.offeredFingerprint ?? "");
      if (offered) return offered;
    }
    throw e;
  }
  throw new ConflictError("KEY_MISMATCH", `${target.address}:${target.port} accepted an impossible pin; refusing to add it`);
}

export async function addHost(
  ctx: Pick<ManagerContext, "db" | "notifier" | "logger" | "ssh">,
  actor: Actor,
  input: AddHostInput,
  signal?: AbortSignal,
): Promise<AddedHostView> {
  requireHostManager(actor);
  if (!ctx.ssh) throw new ValidationError("This server has no SSH configuration (SANDBOXER_SSH_IDENTITY)");
  if (await findHost(ctx.db, input.id)) throw new ConflictError("HOST_EXISTS", `A host "${input.id}" is already registered`);
  if (input.address === undefined && input.tunnelPort === undefined)
    throw new ValidationError("Give the VM's address, or a tunnel port", { address: ["an address or a tunnelPort is required"] });
  if (input.tunnelPort !== undefined) {
    const holder = await tunnelPortHolder(ctx.db, input.tunnelPort, input.id);
    if (holder) throw tunnelPortHeld(input.tunnelPort, holder);
  }
  const address = input.address ?? "127.0.0.1";
  const port = input.port ?? input.tunnelPort ?? 22;
  const offered = await probeOfferedKey(ctx.ssh, { id: input.id, address, port, user: input.user }, signal);
  try {
    await createHost(ctx.db, {
      id: input.id,
      title: input.title ?? input.id,
      address,
      port,
      user: input.user,
      tunnelPort: input.tunnelPort ?? null,
      labels: input.labels ?? [],
      capacity: input.capacity ?? 10,
      workspaceRoot: input.workspaceRoot ?? "/build",
      ...(input.markerPath ? { markerPath: input.markerPath } : {}),
      source: "admin",
      hostKey: "",
      offeredHostKey: offered,
      health: "unconfirmed",
      healthDetail: "Waiting for an admin to confirm the host key",
    });
  } catch (e) {
    // Checked above, but the key probe takes seconds: a second add of the same id (a double submit)
    // or another host given the same tunnel port meanwhile ran into the unique keys.
    if (uniqueViolationFields(e)?.includes("id")) throw new ConflictError("HOST_EXISTS", `A host "${input.id}" is already registered`);
    throw (await tunnelPortTaken(ctx, e, input.tunnelPort ?? null, input.id)) ?? e;
  }
  await publishHostChanged(ctx, input.id);
  await audit(ctx, {
    actor,
    action: "host.add",
    target: input.id,
    result: "ok",
    message: `${input.id}: added ${input.user}@${address}:${port}; it offered ${offered}, waiting for confirmation`,
    data: { address, port, user: input.user, offered },
  });
  return { hostId: input.id, offeredHostKey: offered, verifyCommand: VERIFY_COMMAND };
}

/**
 * The admin confirms the fingerprint they read on the VM. It must equal the one the host offered
 * (a mismatch is refused and audited); then it is pinned and a health check runs.
 */
export async function confirmHostKey(
  ctx: Ctx & Pick<ManagerContext, "ssh">,
  actor: Actor,
  hostId: string,
  fingerprint: string,
): Promise<void> {
  requireHostManager(actor);
  const host = await requireHost(ctx, hostId);
  refuseKnownHostsOnly(ctx, host);
  const given = fingerprint.trim();
  if (!/^SHA256:[A-Za-z0-9+/]{43}=?$/.test(given))
    throw new ValidationError("Not a SHA256 fingerprint", { fingerprint: ['expected "SHA256:" and 43 base64 characters'] });
  const normalised = given.replace(/=$/, "");
  if (!host.offeredHostKey || (host.health !== "unconfirmed" && host.health !== "key_changed"))
    throw new ConflictError("KEY_NOT_PENDING", `${hostId} has no offered key waiting for confirmation; run a check first`);
  if (host.offeredHostKey !== normalised) {
    await audit(ctx, {
      actor,
      action: "host.confirm_key",
      target: hostId,
      result: "denied",
      message: `${hostId}: ${normalised} is not the key the host offered (${host.offeredHostKey}); nothing pinned`,
      data: { given: normalised, offered: host.offeredHostKey },
    });
    throw new ConflictError(
      "KEY_MISMATCH",
      `${normalised} is not the key ${hostId} offered (${host.offeredHostKey}). Do not pin it: check that you ran the command on the right VM.`,
      { offered: host.offeredHostKey },
    );
  }
  await updateHost(ctx.db, hostId, {
    hostKey: normalised,
    offeredHostKey: null,
    hostPublicKey: null,
    health: "unknown",
    healthDetail: "Key confirmed; checking…",
  });
  await publishHostChanged(ctx, hostId);
  await audit(ctx, {
    actor,
    action: "host.confirm_key",
    target: hostId,
    result: "ok",
    message: `${hostId}: pinned ${normalised}${host.hostKey ? ` (was ${host.hostKey})` : ""}`,
    data: { from: host.hostKey || null, to: normalised },
  });
  await requestReconcile(ctx, hostId, actor);
}

function requireAdminHost(host: HostRow): void {
  if (host.source === "config")
    throw new ConflictError("HOST_FROM_CONFIG", `${host.id} comes from hosts.yaml, which wins: change or remove it there`);
}

export interface EditHostInput {
  title?: string;
  address?: string;
  port?: number;
  /** null: no tunnel any more. */
  tunnelPort?: number | null;
  user?: string;
  labels?: string[];
  capacity?: number;
  workspaceRoot?: string;
  markerPath?: string;
}

export interface EditedHostView {
  hostId: string;
  /** The settings that changed (none when the edit matched what was there). */
  changed: string[];
  /**
   * Set when the address or port changed: the key the host now offers, waiting for an admin to confirm
   * it (the host is `unconfirmed` until then, as after an add).
   */
  keyConfirmation: { offeredHostKey: string; verifyCommand: string } | null;
}

function tunnelPortHeld(tunnelPort: number, holder: string): ValidationError {
  return new ValidationError(`Tunnel port ${tunnelPort} is held by host "${holder}"`, {
    tunnelPort: [`already the tunnel port of "${holder}"`],
  });
}

/** The error to show when `e` is a write that ran into another host's tunnel port (null otherwise). */
async function tunnelPortTaken(ctx: Ctx, e: unknown, tunnelPort: number | null, hostId: string): Promise<ValidationError | null> {
  if (tunnelPort === null || !uniqueViolationFields(e)?.includes("tunnelPort")) return null;
  return tunnelPortHeld(tunnelPort, (await tunnelPortHolder(ctx.db, tunnelPort, hostId)) ?? "another host");
}

/** Settings that decide where a connection goes or what it touches; refused while sandboxes live there. */
const CONNECTION_FIELDS = ["address", "port", "tunnelPort", "user", "workspaceRoot"] as const;

const sameLabels = (a: string[], b: string[]) => a.length === b.length && a.every((l, i) => l === b[i]);

/**
 * Edits a dashboard-added host (hosts.yaml hosts are edited in the file: refused). Changing where it is
 * reached (address, port, tunnel port) re-probes the key it offers and puts the host back to
 * `unconfirmed` until an admin confirms it, as an add does: the old pin says nothing about a new
 * address. Connection settings cannot change while sandboxes live there (their destroy handles name
 * the old ones): drain it first. Audited with the values before and after.
 */
export async function editAdminHost(
  ctx: Ctx & Pick<ManagerContext, "ssh">,
  actor: Actor,
  hostId: string,
  input: EditHostInput,
  signal?: AbortSignal,
): Promise<EditedHostView> {
  requireHostManager(actor);
  const host = await requireHost(ctx, hostId);
  requireAdminHost(host);
  const tunnelPort = input.tunnelPort !== undefined ? input.tunnelPort : host.tunnelPort;
  // Without its tunnel the host is reached at an address of its own: the tunnel's end on this machine
  // (127.0.0.1:<port>) would still answer, no longer recorded as a tunnel, its port free for another host.
  const dropsTunnel = input.tunnelPort === null && host.tunnelPort !== null;
  if (dropsTunnel && input.address === undefined)
    throw new ValidationError(`Dropping the tunnel of ${hostId} needs the VM's own address (and port, 22 if not given)`, {
      address: ["required when the tunnel port is dropped"],
    });
  const next = {
    title: input.title ?? host.title,
    // A new tunnel port without an address means the tunnel's end on this machine, as in an add.
    address: input.address ?? (input.tunnelPort != null ? "127.0.0.1" : host.address),
    // Like an add: a tunnel's port, or 22 for an address given without one when the tunnel goes.
    port: input.port ?? (input.tunnelPort != null ? input.tunnelPort : dropsTunnel ? 22 : host.port),
    tunnelPort,
    user: input.user ?? host.user,
    labels: input.labels ?? hostLabels(host),
    capacity: input.capacity ?? host.capacity,
    workspaceRoot: input.workspaceRoot ?? host.workspaceRoot,
    markerPath: input.markerPath ?? host.markerPath,
  };
  const before = {
    title: host.title,
    address: host.address,
    port: host.port,
    tunnelPort: host.tunnelPort,
    user: host.user,
    labels: hostLabels(host),
    capacity: host.capacity,
    workspaceRoot: host.workspaceRoot,
    markerPath: host.markerPath,
  };
  const changed = (Object.keys(next) as (keyof typeof next)[]).filter((k) =>
    k === "labels" ? !sameLabels(next.labels, before.labels) : next[k] !== before[k],
  );
  if (changed.length === 0) return { hostId, changed, keyConfirmation: null };
  if (tunnelPort !== null && changed.includes("tunnelPort")) {
    const holder = await tunnelPortHolder(ctx.db, tunnelPort, hostId);
    if (holder) throw tunnelPortHeld(tunnelPort, holder);
  }
  // The settings this edit was decided on: `before` but the labels (a JSON column, not compared).
  const { labels: _labels, ...seen } = before;
  const connection = changed.filter((k) => (CONNECTION_FIELDS as readonly string[]).includes(k));
  // A change of where the host is reached holds placement off it while it is checked (the mark), then
  // looks for live sandboxes: a create placed there meanwhile either is seen here or sees the mark.
  const mark = connection.length > 0 ? await markHostEditing(ctx.db, hostId, seen) : null;
  if (connection.length > 0 && !mark) throw hostChanged(hostId);
  let written = false;
  // The hosts page shows the change under way (a far VM's key probe takes seconds).
  if (mark) await publishHostChanged(ctx, hostId);
  try {
    if (connection.length > 0) {
      const live = await liveSandboxesOnHost(ctx.db, hostId);
      if (live.length > 0)
        throw new ConflictError(
          "HOST_HAS_SANDBOXES",
          `${live.length} sandbox${live.length === 1 ? "" : "es"} still live on ${hostId} and were made with its current ${connection.join(", ")}: ` +
            "drain the host and wait for them to expire (or destroy them) before changing it",
          { sandboxes: live.map((s) => s.id), fields: connection },
        );
    }
    const moved = changed.includes("address") || changed.includes("port");
    let offered: string | null = null;
    if (moved) {
      if (!ctx.ssh) throw new ValidationError("This server has no SSH configuration (SANDBOXER_SSH_IDENTITY)");
      offered = await probeOfferedKey(ctx.ssh, { id: hostId, address: next.address, port: next.port, user: next.user }, signal);
    }
    const edit: HostEdit = {};
    for (const k of changed) Object.assign(edit, { [k]: next[k] });
    if (moved)
      Object.assign(edit, {
        hostKey: "",
        offeredHostKey: offered,
        hostPublicKey: null,
        health: "unconfirmed",
        healthDetail: `Moved to ${next.address}:${next.port}: waiting for an admin to confirm the host key`,
      } satisfies HostEdit);
    try {
      written = await editHost(ctx.db, hostId, edit, seen, mark);
    } catch (e) {
      throw (await tunnelPortTaken(ctx, e, tunnelPort, hostId)) ?? e;
    }
    // Another admin's edit landed while this one was checked (and its key probed): nothing was written,
    // rather than a mix of both with an audit entry whose "before" is not what was replaced.
    if (!written) throw hostChanged(hostId);
    const pick = (o: Record<string, unknown>) => Object.fromEntries(changed.map((k) => [k, o[k]]));
    await audit(ctx, {
      actor,
      action: "host.edit",
      target: hostId,
      result: "ok",
      message:
        `${hostId}: changed ${changed.map((k) => `${k} ${JSON.stringify(before[k])} → ${JSON.stringify(next[k])}`).join(", ")}` +
        (moved ? `; it offered ${offered}, waiting for confirmation (was ${host.hostKey || "none"})` : ""),
      data: { before: pick(before), after: pick(next), ...(moved ? { offered, previousKey: host.hostKey || null } : {}) },
    });
    await publishHostChanged(ctx, hostId);
    // More capacity, new labels or a new root may let waiting creates go; a new user or root is checked now.
    ctx.notifier.operationQueued();
    if (!moved && (changed.includes("user") || changed.includes("workspaceRoot") || changed.includes("markerPath")))
      await requestReconcile(ctx, hostId, actor);
    return { hostId, changed, keyConfirmation: moved ? { offeredHostKey: offered!, verifyCommand: VERIFY_COMMAND } : null };
  } finally {
    // Written, the edit's own write cleared its mark (and its notice went out); otherwise it is taken off here.
    if (mark && !written) {
      await endHostEditing(ctx.db, hostId, mark);
      await publishHostChanged(ctx, hostId);
    }
  }
}

function hostChanged(hostId: string, what = "edit"): ConflictError {
  return new ConflictError(
    "HOST_CHANGED",
    `${hostId} was changed by someone else while this ${what} was checked (or is being changed now): look at it again and retry`,
  );
}

/** Removes a dashboard-added host; refused while sandboxes live there (drain it first). */
export async function removeHost(ctx: Ctx, actor: Actor, hostId: string): Promise<void> {
  requireHostManager(actor);
  const host = await requireHost(ctx, hostId);
  requireAdminHost(host);
  // As an edit of where it is reached: marked first, so a create placed there meanwhile is seen below
  // or sees the mark and goes elsewhere.
  const mark = await markHostEditing(ctx.db, hostId);
  if (!mark) throw hostChanged(hostId, "removal");
  let deleted = false;
  try {
    const live = await liveSandboxesOnHost(ctx.db, hostId);
    if (live.length > 0) {
      throw new ConflictError(
        "HOST_HAS_SANDBOXES",
        `${live.length} sandbox${live.length === 1 ? "" : "es"} still live on ${hostId} (${live
          .slice(0, 5)
          .map((s) => s.id)
          .join(", ")}): drain the host and wait for them to expire, or destroy them`,
        { sandboxes: live.map((s) => s.id) },
      );
    }
    deleted = await deleteHostMarked(ctx.db, hostId, mark);
    if (!deleted) throw hostChanged(hostId, "removal");
  } finally {
    if (!deleted) await endHostEditing(ctx.db, hostId, mark);
  }
  await publishHostChanged(ctx, hostId);
  await audit(ctx, {
    actor,
    action: "host.remove",
    target: hostId,
    result: "ok",
    message: `${hostId}: removed (${host.user}@${host.address}:${host.port}, key ${host.hostKey || "never confirmed"})`,
  });
}
