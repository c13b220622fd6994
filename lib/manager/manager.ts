// The manager: the one library every surface calls (pages and actions, the REST API, the CLI through
// the API, the worker). Commands check the policy, validate, persist intent and queue an operation —
// they never do remote work inside a request. Workers (./worker.ts) run the operations. Every status
// change goes through ./transitions.ts; every query through lib/db; every audit entry through ./audit.ts.
import "server-only";

import { SYSTEM_ACTOR, actorUserId, type Actor } from "../auth/actor";
import { can, sandboxPermissions } from "../auth/policy";
import type { Db, Prisma } from "../db/client";
import { listAudit, listSandboxEvents, listStateEvents, visibleEventHorizon, type AuditFilter } from "../db/events";
import { hostLabels, listHosts } from "../db/hosts";
import { liveWorkerCount, liveWorkersOnMachines } from "../db/leases";
import { poolCounts, poolCountsByHost } from "../db/pools";
import {
  activeOperations,
  cancelQueued,
  insertOperation,
  leaseOwners,
  operationCreate,
  queuedCreatesBefore,
  releaseOperation,
  requestCancel,
} from "../db/operations";
import {
  deleteSandboxRow,
  findSandbox,
  findSandboxHost,
  findSandboxOwner,
  listSandboxPage,
  ownerSandboxes,
  sandboxStatusOf,
  setExpiry,
  type SandboxColumns,
  type SandboxFilter,
  type SandboxListRow,
} from "../db/sandboxes";
import { listUsers } from "../db/users";
import { appendEvents } from "../db/events";
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from "../errors";
import type { HandleSummary, SshServices } from "../extensions/base";
import type { AnyExtension, Catalog } from "../extensions/catalog";
import { isUsable, resolveProfileParams } from "../extensions/catalog";
import type { Logger } from "../logger";
import { isSandboxId, newSandboxId } from "../sandbox-id";
import { audit, type AuditInput } from "./audit";
import { DEFAULT_MANAGER_CONFIG, extensionOf, type ManagerConfig, type ManagerContext } from "./context";
import { hostViews } from "./host-views";
import { Notifier } from "./notifier";
import { claimPoolMember } from "./pools";
import { CancelledByDestroy } from "./operations/runtime";
import { QUOTA_STATUSES, isExtendable, isTransient, parseStatus, type SandboxStatus } from "./states";
import { insertSandbox, transition } from "./transitions";
import { INITIAL_REASON, stuckReason, type Stuck } from "./waiting";
import {
  iso,
  type AuditEntryView,
  type HostView,
  type PersonView,
  type PoolCountsView,
  type ProfileView,
  type SandboxDetailView,
  type SandboxEventView,
  type SandboxListView,
  type SandboxView,
} from "./views";

export { DEFAULT_MANAGER_CONFIG, type ManagerConfig } from "./context";
export { CancelledByDestroy } from "./operations/runtime";

export interface ManagerDeps {
  db: Db;
  catalog: Catalog;
  logger: Logger;
  /** The SSH services extensions use; the manager uses them for host health and reconciliation. */
  ssh?: SshServices;
  config?: Partial<ManagerConfig>;
  notifier?: Notifier;
}

const MAX_PAGE_SIZE = 200;

export class Manager implements ManagerContext {
  readonly db: Db;
  readonly catalog: Catalog;
  readonly logger: Logger;
  readonly config: ManagerConfig;
  readonly notifier: Notifier;
  readonly ssh: SshServices | undefined;
  readonly runningOperations = new Map<string, AbortController>();

  constructor(deps: ManagerDeps) {
    this.db = deps.db;
    this.catalog = deps.catalog;
    this.logger = deps.logger;
    this.config = { ...DEFAULT_MANAGER_CONFIG, ...deps.config };
    this.notifier = deps.notifier ?? new Notifier();
    this.ssh = deps.ssh;
  }

  extension(id: string): AnyExtension | undefined {
    return extensionOf(this, id);
  }

  // ─── Commands ──────────────────────────────────────────────────────────────────────────────────

  /**
   * Validates the profile and inputs, checks the owner's quota, then claims a warm-pool member when the
   * profile has a pool and the inputs resolve to its params (the sandbox is ready on return) or to params
   * a member can be moved to (another git ref: `creating` on return, a worker moves it), or
   * records a queued sandbox with its create operation. Returns at once; a worker does the work.
   */
  async createSandbox(profileId: string, actor: Actor, rawInput: unknown = {}): Promise<SandboxView> {
    const ownerId = actorUserId(actor);
    if (!ownerId) throw new ValidationError("A sandbox needs an owner; the system cannot create one");
    const { profile, extension, params, input } = resolveProfileParams(this.catalog, profileId, rawInput);
    if (this.config.quotaActive > 0) await this.checkQuota(actor, ownerId, profile.id, 0);
    if (profile.spec.pool) {
      const claimed = await claimPoolMember(this, { profile, extension, params, input, ownerId, actor });
      if (claimed) {
        // Quota again, as after an insert: two racing claims cannot both slip under the limit.
        if (this.config.quotaActive > 0) {
          try {
            await this.checkQuota(actor, ownerId, profile.id, 1, claimed.id);
          } catch (e) {
            await this.destroySandbox(claimed.id, SYSTEM_ACTOR, { reason: "Over quota: destroyed right after its claim" }).catch(() => {});
            throw e;
          }
        }
        this.logger.info(
          { sandboxId: claimed.id, profileId, actor: actor.label, moving: claimed.moving },
          claimed.moving ? "sandbox claimed from the warm pool, moving to its ref" : "sandbox claimed from the warm pool",
        );
        return claimed.row ? this.viewOfColumns(claimed.row, actor) : this.getSandbox(claimed.id);
      }
    }
    const id = newSandboxId();
    const now = new Date();
    // With a quota, not claimable until its check after the insert has passed (a crash in between only
    // delays it); without one, claimable at once (no second write to release it).
    const quota = this.config.quotaActive > 0;
    const operation = operationCreate({
      kind: "create",
      sandboxId: id,
      maxAttempts: this.config.maxAttempts,
      actorId: ownerId,
      runAfter: quota ? new Date(now.getTime() + 60_000) : now,
    });
    const row = await insertSandbox(this, {
      row: {
        id,
        ownerId,
        profileId: profile.id,
        extensionId: extension.id,
        statusReason: INITIAL_REASON,
        params: params as Prisma.InputJsonValue,
        input: input as Prisma.InputJsonValue,
        createdAt: now,
        expiresAt: new Date(now.getTime() + profile.spec.ttlMs),
        maxExpiresAt: new Date(now.getTime() + profile.spec.maxTtlMs),
      },
      status: "queued",
      event: { message: `Queued from ${profile.id}`, actorId: ownerId, actorLabel: actor.label },
      also: (tx) => insertOperation(tx, operation),
    });
    // Quota again after insert: two racing creates cannot both slip under the limit (both may be refused).
    if (quota) {
      try {
        await this.checkQuota(actor, ownerId, profile.id, 1, id);
      } catch (e) {
        await deleteSandboxRow(this.db, id);
        throw e;
      }
      await releaseOperation(this.db, operation.data.id);
    }
    await this.audit({
      actor,
      action: "sandbox.create",
      target: id,
      result: "ok",
      message: `Created sandbox ${id} from ${profile.id}`,
      data: { profileId: profile.id, input },
    });
    this.logger.info({ sandboxId: id, profileId, actor: actor.label }, "sandbox queued");
    this.notifier.operationQueued();
    // Nothing has written the row since its insert (the operation's release and the audit entry are other rows).
    return this.viewOfColumns(row, actor);
  }

  /**
   * Destroys a sandbox from any state: cancels a queued or running create, then queues a teardown that
   * uses only the stored handle. Calling it again while destroying, or after destroyed, changes nothing.
   */
  async destroySandbox(id: string, actor: Actor, opts: { reason?: string } = {}): Promise<SandboxView> {
    for (let tries = 0; tries < 5; tries++) {
      const sandbox = await this.requireSandbox(id);
      await this.authorizeOwner(actor, sandbox, "destroy");
      const status = parseStatus(sandbox.status);
      if (status === "destroyed" || status === "destroying") return this.toView(sandbox);
      const teardown = this.describe(sandbox.extensionId, sandbox.handle)?.teardown ?? [];
      const message = opts.reason ?? `Destroy requested by ${actor.label}`;
      const { moved } = await transition(this, {
        sandboxId: id,
        from: status,
        to: "destroying",
        set: { statusReason: message },
        event: { message, data: { from: status }, actorId: actorUserId(actor), actorLabel: actor.label },
        audit: {
          actor,
          action: "sandbox.destroy",
          target: id,
          result: "ok",
          message: `Destroy of ${id} requested`,
          data: { from: status, teardown },
        },
        also: async (tx) => {
          const ops = await activeOperations(tx, id);
          for (const op of ops) {
            if (op.kind !== "create") continue;
            // A queued create never starts; a running one is asked to stop (its worker polls the flag).
            if (op.state === "queued") await cancelQueued(tx, op.id, "Cancelled by destroy");
            else await requestCancel(tx, op.id);
          }
          if (!ops.some((op) => op.kind === "destroy")) {
            await insertOperation(
              tx,
              operationCreate({ kind: "destroy", sandboxId: id, maxAttempts: this.config.maxAttempts, actorId: actorUserId(actor) }),
            );
          }
        },
      });
      if (!moved) continue; // the state changed under us; look again
      for (const [opId, controller] of this.runningOperations) {
        if (opId.startsWith(`${id}:`)) controller.abort(new CancelledByDestroy());
      }
      this.logger.info({ sandboxId: id, actor: actor.label, from: status }, "sandbox destroy requested");
      this.notifier.operationQueued();
      return this.getSandbox(id);
    }
    throw new ConflictError("BUSY", `Sandbox ${id} kept changing state; try again`);
  }

  /** Moves the expiry later by `byMs`, up to the profile's maximum. Owner or admin. */
  async extendSandbox(id: string, actor: Actor, byMs: number): Promise<SandboxView> {
    if (!Number.isFinite(byMs) || byMs <= 0) throw new ValidationError("Extend by a positive duration", { by: ["must be positive"] });
    const sandbox = await this.requireSandbox(id);
    await this.authorizeOwner(actor, sandbox, "extend");
    const status = parseStatus(sandbox.status);
    if (!isExtendable(status)) {
      throw new ConflictError("NOT_EXTENDABLE", `Sandbox ${id} is ${status}; only live sandboxes can be extended`);
    }
    const current = sandbox.expiresAt ?? new Date();
    const max = sandbox.maxExpiresAt ?? current;
    const target = new Date(Math.min(current.getTime() + byMs, max.getTime()));
    if (target.getTime() <= current.getTime()) {
      throw new ConflictError("AT_MAX_TTL", `Sandbox ${id} already expires at its profile's maximum (${max.toISOString()})`);
    }
    await setExpiry(this.db, id, target);
    await appendEvents(this.db, [{ sandboxId: id, type: "log", message: `Expiry extended to ${target.toISOString()} by ${actor.label}` }]);
    await this.audit({ actor, action: "sandbox.extend", target: id, result: "ok", message: `Extended ${id} to ${target.toISOString()}` });
    this.notifier.sandboxChanged(id);
    return this.getSandbox(id);
  }

  private async checkQuota(actor: Actor, ownerId: string, profileId: string, slack: number, newId?: string): Promise<void> {
    const active = await ownerSandboxes(this.db, ownerId, QUOTA_STATUSES);
    if (active.length < this.config.quotaActive + slack) return;
    const counted = active.filter((s) => s.id !== newId);
    await this.audit({
      actor,
      action: "sandbox.create",
      target: profileId,
      result: "denied",
      message: `Quota of ${this.config.quotaActive} active sandboxes reached`,
    });
    throw new ConflictError(
      "QUOTA_EXCEEDED",
      `You already have ${counted.length} active sandboxes (the limit is ${this.config.quotaActive}): ${counted
        .map((s) => `${s.id} (${s.profileId}, ${s.status})`)
        .join(", ")}. Destroy one first; failed and destroyed sandboxes do not count.`,
      { limit: this.config.quotaActive, counted: counted.map((s) => s.id) },
    );
  }

  // ─── Queries ───────────────────────────────────────────────────────────────────────────────────

  async listProfiles(): Promise<ProfileView[]> {
    const pools = this.catalog.profiles.some((p) => p.spec?.pool) ? await poolCounts(this.db) : new Map<string, never>();
    return this.catalog.profiles.map((p) => {
      const spec = p.spec;
      const ext = spec ? this.catalog.extensions.get(spec.extension) : undefined;
      let target: string | null = null;
      if (ext && isUsable(p)) {
        const req = ext.hostRequirement(p.params);
        target = req ? ("hostId" in req ? req.hostId : `label: ${req.label}`) : null;
      }
      return {
        id: p.id,
        title: spec?.title ?? p.id,
        description: spec?.description ?? "",
        extension: spec?.extension ?? "",
        target,
        ttl: spec?.ttl ?? "",
        maxTtl: spec?.maxTtl ?? "",
        runbook: spec?.runbook ?? null,
        tags: spec?.tags ?? [],
        inputs: spec?.inputs ?? [],
        source: p.source,
        usable: isUsable(p),
        errors: p.errors,
        pool: spec?.pool
          ? {
              size: spec.pool.size,
              refillConcurrency: spec.pool.refillConcurrency,
              maxAge: spec.pool.maxAge,
              ready: pools.get(p.id)?.pooled ?? 0,
              filling: pools.get(p.id)?.filling ?? 0,
            }
          : null,
      };
    });
  }

  /** Warm-pool counts for the team stream's `pool` frame; null (no query) when no profile has a pool. */
  async poolCountsView(): Promise<PoolCountsView | null> {
    const pooled = this.catalog.profiles.filter((p) => p.spec?.pool);
    if (pooled.length === 0) return null;
    const [profiles, hosts] = await Promise.all([poolCounts(this.db), poolCountsByHost(this.db)]);
    return {
      profiles: Object.fromEntries(
        pooled.map((p) => [p.id, { ready: profiles.get(p.id)?.pooled ?? 0, filling: profiles.get(p.id)?.filling ?? 0 }]),
      ),
      hosts: Object.fromEntries([...hosts].map(([id, c]) => [id, { ready: c.pooled, total: c.total }])),
    };
  }

  /**
   * For each usable profile whose extension needs a build host that no host provides (no host with
   * its label, or its named host missing or disabled), why it cannot be created; absent when a host
   * can take it. The profiles page disables Create with this reason instead of a create that fails.
   */
  async profileAvailability(): Promise<Record<string, string>> {
    const hosts = (await listHosts(this.db)).filter((h) => h.health !== "disabled");
    const out: Record<string, string> = {};
    for (const p of this.catalog.profiles) {
      const ext = p.spec ? this.catalog.extensions.get(p.spec.extension) : undefined;
      if (!ext || !isUsable(p)) continue;
      const req = ext.hostRequirement(p.params);
      if (!req) continue;
      if ("label" in req && !hosts.some((h) => hostLabels(h).includes(req.label))) out[p.id] = `no host labelled "${req.label}"`;
      if ("hostId" in req && !hosts.some((h) => h.id === req.hostId)) out[p.id] = `no host "${req.hostId}"`;
    }
    return out;
  }

  profileTitle(id: string): string {
    return this.catalog.profiles.find((p) => p.id === id)?.spec?.title ?? id;
  }

  /** Audit entries, newest first (admins). */
  async auditLog(actor: Actor, filter: AuditFilter): Promise<AuditEntryView[]> {
    if (!can(actor, "audit.read")) throw new ForbiddenError("The audit log needs the admin role");
    const rows = await listAudit(this.db, filter);
    return rows.map((e) => ({
      id: e.id,
      at: e.createdAt.toISOString(),
      actor: e.actorLabel,
      actorId: e.actorId,
      action: e.action ?? "",
      target: e.target,
      result: e.result ?? "ok",
      sourceIp: e.sourceIp,
      message: e.message,
      data: e.data,
    }));
  }

  /** The team's people, for owner filters and the Users page. */
  async listPeople(): Promise<(PersonView & { role: string; createdAt: string })[]> {
    const users = await listUsers(this.db);
    return users.map((u) => ({ ...u, createdAt: u.createdAt.toISOString() }));
  }

  async listHosts(): Promise<HostView[]> {
    return hostViews(this.db, this.ssh);
  }

  async listSandboxes(filter: SandboxFilter, page = 1, pageSize = 25): Promise<SandboxListView> {
    const size = Math.min(Math.max(1, Math.floor(pageSize)), MAX_PAGE_SIZE);
    const p = Math.max(1, Math.floor(page));
    const result = await listSandboxPage(this.db, filter, p, size);
    const waiting = await this.waiting(result.rows);
    return {
      rows: result.rows.map((r) => this.toView(r, waiting(r))),
      total: result.total,
      page: p,
      pageSize: size,
      pages: Math.max(1, Math.ceil(result.total / size)),
      counts: result.counts,
    };
  }

  /** The sandbox for the team stream's snapshots: null when it is gone or a warm-pool member (not the team's yet). */
  async streamSnapshot(id: string): Promise<SandboxView | null> {
    const row = isSandboxId(id) ? await findSandbox(this.db, id) : null;
    return row && row.poolKey === null ? this.toView(row) : null;
  }

  /**
   * The view of a row the caller just wrote (a claim's update, a create's insert), without reading it
   * back: the owner as the request's authentication read them, the host in one small read when there
   * is one, and — only for a sandbox in flight — why it may be waiting (getSandbox's one worker count).
   */
  private async viewOfColumns(row: SandboxColumns, actor: Actor): Promise<SandboxView> {
    const person = actor.kind === "system" ? undefined : actor.person;
    const [owner, host] = await Promise.all([
      person && actorUserId(actor) === row.ownerId
        ? { id: row.ownerId, name: person.name, email: person.email }
        : findSandboxOwner(this.db, row.ownerId),
      row.hostId ? findSandboxHost(this.db, row.hostId) : null,
    ]);
    if (!owner) throw new NotFoundError("Sandbox owner", row.ownerId);
    const full = { ...row, owner, host };
    return this.toView(full, (await this.waiting([full]))(full));
  }

  async getSandbox(id: string): Promise<SandboxView> {
    const row = await this.requireSandbox(id);
    return this.toView(row, (await this.waiting([row]))(row));
  }

  /**
   * Why in-flight sandboxes are not moving (./waiting.ts), from any instance: one worker count when a
   * row is in flight, one lease-owner lookup when one is stuck; nothing for settled rows.
   */
  async waiting(rows: readonly SandboxListRow[], now = new Date()): Promise<(row: SandboxListRow) => Stuck | null> {
    const inFlight = rows.filter((r) => isTransient(parseStatus(r.status)));
    if (inFlight.length === 0) return () => null;
    const liveWorkers = await liveWorkerCount(this.db, this.config.workerStaleMs, now);
    const expired = inFlight.filter((r) => r.lockOperationId && r.lockExpiresAt && r.lockExpiresAt < now).map((r) => r.lockOperationId!);
    const owners = await leaseOwners(this.db, expired);
    const machines = [...new Set(inFlight.map((r) => r.machineId).filter((m): m is string => !!m))];
    const onMachine = await liveWorkersOnMachines(this.db, machines, this.config.workerStaleMs, now);
    return (row) =>
      stuckReason(
        { ...row, status: parseStatus(row.status) },
        {
          now,
          liveWorkers,
          liveWorkersOnMachine: row.machineId ? (onMachine.get(row.machineId) ?? 0) : undefined,
          leaseOwner: row.lockOperationId ? owners.get(row.lockOperationId) : null,
        },
      );
  }

  /** The sandbox with its inputs, state timeline and queue position; with a viewer, what they may do to it. */
  async getSandboxDetail(id: string, viewer?: Actor): Promise<SandboxDetailView> {
    const sandbox = await this.requireSandbox(id);
    const status = parseStatus(sandbox.status);
    const states = await listStateEvents(this.db, id, 200);
    const stuck = (await this.waiting([sandbox]))(sandbox);
    let queue: SandboxDetailView["queue"] = null;
    if (status === "queued") {
      const ahead = await queuedCreatesBefore(this.db, sandbox.createdAt);
      queue = { position: ahead + 1, reason: stuck?.reason ?? sandbox.statusReason ?? INITIAL_REASON };
    }
    const max = sandbox.maxExpiresAt?.getTime() ?? 0;
    const cur = sandbox.expiresAt?.getTime() ?? 0;
    const permissions = viewer ? sandboxPermissions(viewer, sandbox) : undefined;
    return {
      ...this.toView(sandbox, stuck),
      stuck,
      input: (sandbox.input ?? {}) as Record<string, unknown>,
      timeline: states.map((e) => ({
        id: e.id,
        at: e.createdAt.toISOString(),
        status: String((e.data as { status?: string } | null)?.status ?? ""),
        message: e.message,
        actor: e.actorLabel,
      })),
      queue,
      extendableMs: isExtendable(status) ? Math.max(0, max - cur) : 0,
      ...(permissions ? { canDestroy: permissions.destroy, permissions } : {}),
    };
  }

  /** Events with ids up to this are all visible (lib/db/events.ts visibleEventHorizon); read it first. */
  eventHorizon(): Promise<number> {
    return visibleEventHorizon(this.db);
  }

  async sandboxEvents(id: string, afterId = 0, limit = 1000): Promise<SandboxEventView[]> {
    if (!isSandboxId(id)) throw new NotFoundError("Sandbox", id);
    const rows = await listSandboxEvents(this.db, id, { afterId, limit });
    return rows.map((e) => ({
      id: e.id,
      type: e.type === "state" ? "state" : "log",
      level: e.level,
      message: e.message,
      at: e.createdAt.toISOString(),
      status: e.type === "state" ? String((e.data as { status?: string } | null)?.status ?? "") : undefined,
    }));
  }

  // ─── Helpers ───────────────────────────────────────────────────────────────────────────────────

  async requireSandbox(id: string) {
    if (!isSandboxId(id)) throw new NotFoundError("Sandbox", id);
    const sandbox = await findSandbox(this.db, id);
    if (!sandbox) throw new NotFoundError("Sandbox", id);
    return sandbox;
  }

  /** Just the status (the event stream asks this on every pass; no joins, no view). */
  async sandboxStatus(id: string): Promise<SandboxStatus> {
    const status = isSandboxId(id) ? await sandboxStatusOf(this.db, id) : null;
    if (status === null) throw new NotFoundError("Sandbox", id);
    return parseStatus(status);
  }

  /** Refuses (and audits the refusal) unless the policy lets the actor act on this sandbox. */
  private async authorizeOwner(actor: Actor, sandbox: { id: string; ownerId: string }, verb: "destroy" | "extend"): Promise<void> {
    if (can(actor, verb === "destroy" ? "sandbox.destroy" : "sandbox.extend", sandbox)) return;
    const Verb = verb === "destroy" ? "Destroy" : "Extend";
    await this.audit({
      actor,
      action: `sandbox.${verb}`,
      target: sandbox.id,
      result: "denied",
      message: `${Verb} of ${sandbox.id} refused: not the owner`,
    });
    throw new ForbiddenError(`Only the owner of sandbox ${sandbox.id} or an admin can ${verb} it`);
  }

  describe(extensionId: string, handle: unknown): HandleSummary | null {
    if (handle === null || handle === undefined) return null;
    const ext = this.extension(extensionId);
    if (!ext) return null;
    const parsed = ext.handleSchema.safeParse(handle);
    return parsed.success ? ext.describeHandle(parsed.data) : null;
  }

  /** The API's view of a row; `stuck` (from waiting()) replaces the stored reason while it applies. */
  toView(row: SandboxListRow, stuck: Stuck | null = null): SandboxView {
    return {
      id: row.id,
      owner: { id: row.owner.id, name: row.owner.name, email: row.owner.email },
      profileId: row.profileId,
      profileTitle: this.profileTitle(row.profileId),
      extensionId: row.extensionId,
      host: row.host ? { id: row.host.id, title: row.host.title, address: row.host.address, port: row.host.port } : null,
      status: parseStatus(row.status),
      statusReason: stuck?.reason ?? row.statusReason,
      createdAt: row.createdAt.toISOString(),
      updatedAt: row.updatedAt.toISOString(),
      readyAt: iso(row.readyAt),
      destroyedAt: iso(row.destroyedAt),
      expiresAt: iso(row.expiresAt),
      maxExpiresAt: iso(row.maxExpiresAt),
      handle: this.describe(row.extensionId, row.handle),
    };
  }

  /** Writes an audit entry; never throws (see ./audit.ts). */
  audit(entry: AuditInput): Promise<void> {
    return audit(this, entry);
  }
}
