// Warm pools. A profile may declare `pool: { size, refillConcurrency, maxAge }`; the system then keeps
// that many sandboxes made ahead of time from the profile's defaults (status `pooled`, owned by the
// pool's system account, carrying the pool's key). A person's create whose params are the pool's
// claims a member in the request itself — one conditional update moves it pooled → ready with the
// requester as owner and its own expiry — and queues a refill. A create the extension can reach from
// the pool's params by moving a member (another git ref) claims one the same way, pooled → creating,
// and a worker moves it on its VM. A miss is an ordinary create.
//
// The key is a hash of the profile id, the extension (id and version) and the params: a member
// satisfies a create exactly when the create resolves to the same params, and a member made before
// the profile changed has another key and is recycled by the refill (./operations/refill.ts).
// Members count against host capacity but not against anyone's quota; a person's create on a full host
// evicts one (./host-picker.ts). Their maximum age is their expiry (the expiry job recycles them).
import "server-only";

import { createHash } from "node:crypto";

import { systemActor, type Actor } from "../auth/actor";
import type { Prisma } from "../db/client";
import { activeOperations, cancelQueued, insertOperation, operationCreate, requestCancel } from "../db/operations";
import { anyPoolMember, claimCandidates, refillQueued } from "../db/pools";
import type { SandboxColumns } from "../db/sandboxes";
import type { AnyExtension, Catalog, UsableProfile } from "../extensions/catalog";
import { isUsable } from "../extensions/catalog";
import type { ProfileInput } from "../extensions/profile-inputs";
import { metrics } from "../metrics";
import type { ManagerContext } from "./context";
import { CancelledByDestroy } from "./operations/runtime";
import type { SandboxStatus } from "./states";
import { transition } from "./transitions";

/** JSON with object keys sorted, so equal params always hash the same. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

/** The key of the pool a create with these params would claim from. */
export function poolKeyOf(profileId: string, extension: Pick<AnyExtension, "id" | "manifest">, params: unknown): string {
  const text = canonical({ profileId, extension: extension.id, version: extension.manifest.version, params });
  return `pk_${createHash("sha256").update(text).digest("hex").slice(0, 32)}`;
}

export interface PoolProfile {
  profile: UsableProfile & { spec: UsableProfile["spec"] & { pool: NonNullable<UsableProfile["spec"]["pool"]> } };
  extension: AnyExtension;
  /** The params members are made with: the profile's defaults (no inputs). */
  params: unknown;
  key: string;
}

/** The usable profiles that declare a pool, with their current keys. */
export function poolProfiles(catalog: Catalog): PoolProfile[] {
  const out: PoolProfile[] = [];
  for (const p of catalog.profiles) {
    if (!isUsable(p) || !p.spec.pool) continue;
    const extension = catalog.extensions.get(p.spec.extension);
    if (!extension) continue;
    out.push({ profile: p as PoolProfile["profile"], extension, params: p.params, key: poolKeyOf(p.id, extension, p.params) });
  }
  return out;
}

/** Refill requests this process is making, per database (a burst of claims asks once, not once each). */
const requesting = new WeakMap<object, Promise<boolean>>();
/**
 * When the refill this process queued last may start (its runAfter), per database: until then no
 * worker can have started it, so it is still queued and a claim need not ask the database again.
 */
const queuedUntil = new WeakMap<object, number>();
/** Margin for workers whose clock runs ahead of ours. */
const QUEUED_MARGIN_MS = 500;

/** Queues a refill unless one is already waiting (it will see everything this one would). */
export function requestRefill(ctx: Pick<ManagerContext, "db" | "notifier" | "config">, runAfter = new Date()): Promise<boolean> {
  if (Date.now() < (queuedUntil.get(ctx.db) ?? 0) - QUEUED_MARGIN_MS) return Promise.resolve(false);
  const pending = requesting.get(ctx.db);
  if (pending) return pending;
  const p = (async () => {
    if (await refillQueued(ctx.db)) return false;
    await insertOperation(ctx.db, operationCreate({ kind: "refill", maxAttempts: ctx.config.maxAttempts, runAfter }));
    queuedUntil.set(ctx.db, runAfter.getTime());
    ctx.notifier.operationQueued();
    return true;
  })().finally(() => requesting.delete(ctx.db));
  requesting.set(ctx.db, p);
  return p;
}

/** The maintenance job's part: a refill pass when any pool exists or any member is left to look after. */
export async function schedulePoolRefill(ctx: Pick<ManagerContext, "db" | "notifier" | "config" | "catalog">): Promise<boolean> {
  if (poolProfiles(ctx.catalog).length === 0 && !(await anyPoolMember(ctx.db))) return false;
  return requestRefill(ctx);
}

export interface ClaimRequest {
  profile: UsableProfile;
  extension: AnyExtension;
  params: unknown;
  input: ProfileInput;
  ownerId: string;
  actor: Actor;
}

/** How many candidates one look fetches; a claim picks one of them at random so racing claims spread out. */
const CANDIDATES = 16;
/** Tries per claim (each one conditional update); past them the create is an ordinary one. */
const CLAIM_ROUNDS = 3;

/**
 * Claims a pooled member for this create: one conditional update per try, so two claims never get the
 * same member. A member with the create's params moves pooled → ready (the requester as owner, the
 * profile's TTL from now): the sandbox is ready on return. Failing that, when the extension can move a
 * member made with the pool's params to the create's (another git ref of the same repository), one
 * moves pooled → creating with the new params and a create operation that moves it on its VM
 * (./operations/create.ts; it falls back to a fresh create if the move fails). Returns the claimed id
 * and whether it is being moved, or null on a miss (no pool, no member, or every candidate taken by
 * racing claims).
 */
export async function claimPoolMember(
  ctx: Pick<ManagerContext, "db" | "notifier" | "config">,
  req: ClaimRequest,
): Promise<{ id: string; moving: boolean; row?: SandboxColumns } | null> {
  const { profile, extension } = req;
  if (!profile.spec.pool) return null;
  const started = performance.now();
  const now = new Date();
  const owned = {
    ownerId: req.ownerId,
    input: req.input as Prisma.InputJsonValue,
    poolKey: null,
    expiresAt: new Date(now.getTime() + profile.spec.ttlMs),
    maxExpiresAt: new Date(now.getTime() + profile.spec.maxTtlMs),
  };
  const audit = (id: string, how: string) => ({
    actor: req.actor,
    action: "sandbox.create",
    target: id,
    result: "ok" as const,
    message: `Created sandbox ${id} from ${profile.id} (${how})`,
    data: { profileId: profile.id, input: req.input as Prisma.InputJsonValue, pool: true },
  });
  let claimed: { id: string; moving: boolean; row?: SandboxColumns } | null = null;
  let row: SandboxColumns | null | undefined;
  const id = await claimOne(ctx, poolKeyOf(profile.id, extension, req.params), async (id) => {
    let moved: boolean;
    ({ moved, row } = await transition(ctx, {
      sandboxId: id,
      from: "pooled",
      to: "ready",
      set: { ...owned, readyAt: now, statusReason: null },
      event: {
        message: `Claimed from the warm pool of ${profile.id} by ${req.actor.label}`,
        actorId: req.ownerId,
        actorLabel: req.actor.label,
      },
      audit: audit(id, "warm pool"),
      // The response is made from the row as written (./manager.ts), not read again.
      returnRow: true,
    }));
    return moved;
  });
  if (id) claimed = { id, moving: false, ...(row ? { row } : {}) };
  else if (extension.canMove(profile.params, req.params)) {
    const reason = `Moving a warm-pool member to ${describeTarget(req.input)}`;
    const movedId = await claimOne(ctx, poolKeyOf(profile.id, extension, profile.params), async (id) => {
      const { moved } = await transition(ctx, {
        sandboxId: id,
        from: "pooled",
        to: "creating",
        set: { ...owned, params: req.params as Prisma.InputJsonValue, readyAt: null, statusReason: reason },
        event: {
          message: `Claimed from the warm pool of ${profile.id} by ${req.actor.label}; ${reason}`,
          actorId: req.ownerId,
          actorLabel: req.actor.label,
        },
        audit: audit(id, "warm pool, moved"),
        also: (tx) =>
          insertOperation(
            tx,
            operationCreate({
              kind: "create",
              sandboxId: id,
              maxAttempts: ctx.config.maxAttempts,
              actorId: req.ownerId,
              payload: { moveFrom: profile.params as Prisma.InputJsonValue },
            }),
          ),
      });
      return moved;
    });
    if (movedId) {
      claimed = { id: movedId, moving: true };
      ctx.notifier.operationQueued();
    }
  }
  const result = claimed ? (claimed.moving ? "move" : "hit") : "miss";
  const m = metrics();
  m.poolClaims.inc({ profile: profile.id, result });
  m.poolClaimSeconds.observe({ result }, (performance.now() - started) / 1000);
  // A claim leaves a gap; a miss means the pool is behind. Not on the request's path: the maintenance
  // job queues one anyway if this fails. It starts after poolRefillDelayMs: the claims of a burst
  // (50 at once) come first, and so does the claimed sandbox's first sync on the VM.
  void requestRefill(ctx, new Date(Date.now() + ctx.config.poolRefillDelayMs)).catch(() => {});
  return claimed;
}

/** "ref feature-x" — the create's inputs, for the member's status reason. */
function describeTarget(input: ProfileInput): string {
  const set = Object.entries(input).filter(([, v]) => v !== undefined);
  return set.length ? set.map(([k, v]) => `${k} ${v}`).join(", ") : "the profile's defaults";
}

/**
 * Tries to take one member of the pool `key` with `take` (one conditional update, true when it moved):
 * each try picks at random among the oldest, so racing claims spread out; a member another claim took
 * is not tried again. A miss costs one query.
 */
async function claimOne(ctx: Pick<ManagerContext, "db">, key: string, take: (id: string) => Promise<boolean>): Promise<string | null> {
  const taken = new Set<string>();
  for (let round = 0; round < CLAIM_ROUNDS; round++) {
    const candidates = (await claimCandidates(ctx.db, key, CANDIDATES)).filter((c) => !taken.has(c.id));
    if (candidates.length === 0) return null;
    const { id } = candidates[Math.floor(Math.random() * candidates.length)]!;
    if (await take(id)) return id;
    taken.add(id);
  }
  return null;
}

/**
 * Takes a member out of the pool for good: `destroying` with a teardown queued (a create still running
 * is asked to stop first), in one transition. Used to recycle (stale, failed, missing) and to evict
 * (a person's create needs the slot). Returns whether it moved.
 */
export async function retireMember(
  ctx: Pick<ManagerContext, "db" | "notifier" | "config" | "runningOperations">,
  id: string,
  from: SandboxStatus,
  reason: string,
  actor: Actor = systemActor("warm pool"),
): Promise<boolean> {
  const { moved } = await transition(ctx, {
    sandboxId: id,
    from,
    to: "destroying",
    set: { statusReason: reason },
    event: { message: reason, data: { from }, actorLabel: actor.label },
    also: async (tx) => {
      const ops = await activeOperations(tx, id);
      for (const op of ops) {
        if (op.kind !== "create") continue;
        if (op.state === "queued") await cancelQueued(tx, op.id, "Cancelled: pool member retired");
        else await requestCancel(tx, op.id);
      }
      if (!ops.some((op) => op.kind === "destroy")) {
        await insertOperation(tx, operationCreate({ kind: "destroy", sandboxId: id, maxAttempts: ctx.config.maxAttempts }));
      }
    },
  });
  if (moved) {
    for (const [opId, controller] of ctx.runningOperations) if (opId.startsWith(`${id}:`)) controller.abort(new CancelledByDestroy());
    ctx.notifier.operationQueued();
  }
  return moved;
}
