// The refill operation: keeps every warm pool at its size (lib/manager/pools.ts). One pass, no remote
// work of its own: members on hosts that went down leave the pool (`missing`); stale members (made
// for a profile that has since changed, failed after their cool-down, missing) are recycled; then new
// members are queued as ordinary creates carrying the pool's key, within the caps — the profile's
// refillConcurrency, SANDBOXER_POOL_REFILL_MAX overall and SANDBOXER_POOL_REFILL_PER_HOST per host
// (the host picker enforces that one). Queued after every claim, after each member's create, and by
// the maintenance job.
import "server-only";

import type { Prisma } from "../../db/client";
import { occupancyByHost, UNSCHEDULABLE_HEALTH } from "../../db/hosts";
import { acquireLease, releaseLease } from "../../db/leases";
import { insertOperation, operationCreate } from "../../db/operations";
import { ensurePoolOwner, fillingMembers, liveMembersByKey, membersOnDownHosts, recyclableMembers } from "../../db/pools";
import type { HostRequirement } from "../../extensions/base";
import { newSandboxId } from "../../sandbox-id";
import { hostsMatching } from "../host-picker";
import type { ManagerContext } from "../context";
import { poolProfiles, retireMember } from "../pools";
import { parseStatus } from "../states";
import { insertSandbox, transition } from "../transitions";
import { failureCode, failureMessage, stopKind, type OperationHandler } from "./runtime";

/** One refill pass at a time across all workers and instances: two passes would both see the same gap and fill it twice. */
const REFILL_LEASE = "pool-refill";

export const runRefill: OperationHandler = async (ctx, run) => {
  const owner = `${run.owner}/${run.op.id}`;
  if (!(await acquireLease(ctx.db, REFILL_LEASE, owner, ctx.config.leaseMs))) {
    // Another pass is running; this one runs after it (it may see a gap that pass left).
    await run.requeue(new Date(Date.now() + 250));
    return;
  }
  try {
    const summary = await refillPools(ctx);
    run.log.debug({ summary }, "refill done");
    await run.finish({ state: "succeeded", error: summary });
  } catch (e) {
    if (stopKind(run.signal, e) === "lease-lost") return;
    run.log.warn({ err: e }, "refill failed");
    await run.finish({ state: "failed", errorCode: failureCode(e), error: failureMessage(e) });
  } finally {
    await releaseLease(ctx.db, REFILL_LEASE, owner).catch(() => {});
  }
};

/** One refill pass over every pool. Returns a one-line summary. */
export async function refillPools(ctx: ManagerContext, now = new Date()): Promise<string> {
  const pools = poolProfiles(ctx.catalog);
  let down = 0;
  for (const m of await membersOnDownHosts(ctx.db)) {
    const reason = `Taken out of the warm pool: host ${m.host?.title ?? "?"} is ${m.host?.health ?? "unhealthy"}`;
    const r = await transition(ctx, {
      sandboxId: m.id,
      from: "pooled",
      to: "missing",
      set: { statusReason: reason },
      event: { level: "warn", message: reason },
    });
    if (r.moved) down++;
  }

  let recycled = 0;
  const current = new Set(pools.map((p) => p.key));
  const cutoff = now.getTime() - ctx.config.poolFailureCooldownMs;
  for (const m of await recyclableMembers(ctx.db, [...current], 100)) {
    const status = parseStatus(m.status);
    let reason: string;
    if (status === "failed") {
      if (m.updatedAt.getTime() > cutoff) continue; // cool-down: its slot stays taken, so a failing pool does not spin
      reason = "Recycled: the pool member's create failed";
    } else if (status === "missing") reason = "Recycled: the pool member's workspace or host went away";
    else if (pools.some((p) => p.profile.id === m.profileId)) reason = "Recycled: the profile changed since this pool member was made";
    else reason = "Recycled: the profile no longer has a warm pool";
    if (await retireMember(ctx, m.id, status, reason)) recycled++;
  }

  if (pools.length === 0) return `${down} out (host down), ${recycled} recycled; no pools`;
  const live = await liveMembersByKey(ctx.db);
  const filling = await fillingMembers(ctx.db);
  let overall = ctx.config.poolRefillMax - filling.total;
  const unassigned = filling.total - [...filling.byHost.values()].reduce((a, b) => a + b, 0);
  let queued = 0;
  const ownerId = await ensurePoolOwner(ctx.db);
  for (const p of pools) {
    const { size, refillConcurrency, maxAgeMs } = p.profile.spec.pool;
    const have = live.get(p.key) ?? { pooled: 0, filling: 0, failed: 0 };
    const want = size - have.pooled - have.filling - have.failed;
    let room = Math.min(want, refillConcurrency - (filling.byProfile.get(p.profile.id) ?? 0), overall);
    const requirement = room > 0 ? p.extension.hostRequirement(p.params) : null;
    // Members not on a host yet (queued, this pass's included) may land on any host: count them against the room.
    if (requirement) room = Math.min(room, (await hostRoom(ctx, requirement, filling.byHost)) - unassigned - queued);
    for (let i = 0; i < room; i++) {
      const id = newSandboxId();
      const at = new Date();
      const operation = operationCreate({ kind: "create", sandboxId: id, maxAttempts: ctx.config.maxAttempts });
      await insertSandbox(ctx, {
        row: {
          id,
          ownerId,
          profileId: p.profile.id,
          extensionId: p.extension.id,
          poolKey: p.key,
          statusReason: "Warm-pool member: waiting for a worker",
          params: p.params as Prisma.InputJsonValue,
          input: {},
          createdAt: at,
          // Its maximum age is its expiry: the expiry job recycles it (a claim sets the person's TTL).
          expiresAt: new Date(at.getTime() + maxAgeMs),
          maxExpiresAt: new Date(at.getTime() + maxAgeMs),
        },
        status: "queued",
        event: { message: `Queued as a warm-pool member of ${p.profile.id}`, actorLabel: "system (warm pool)" },
        also: (tx) => insertOperation(tx, operation),
      });
      queued++;
      overall--;
    }
  }
  if (queued) ctx.notifier.operationQueued();
  return `${down} out (host down), ${recycled} recycled, ${queued} queued`;
}

/**
 * How many more members the hosts a requirement names can take now: free capacity, and at most
 * SANDBOXER_POOL_REFILL_PER_HOST members in the making on each (the picker enforces both again).
 */
async function hostRoom(
  ctx: Pick<ManagerContext, "db" | "config">,
  requirement: HostRequirement,
  fillingByHost: Map<string, number>,
): Promise<number> {
  const { hosts } = await hostsMatching(ctx.db, requirement);
  const load = await occupancyByHost(ctx.db);
  let room = 0;
  for (const h of hosts) {
    if ((UNSCHEDULABLE_HEALTH as readonly string[]).includes(h.health) || h.cordoned) continue;
    const filling = fillingByHost.get(h.id) ?? 0;
    room += Math.max(0, Math.min(ctx.config.poolRefillPerHost - filling, h.capacity - (load.get(h.id) ?? 0)));
  }
  return room;
}
