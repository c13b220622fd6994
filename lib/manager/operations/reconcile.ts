// The reconcile operation: a build host's health (reachable with its pinned key, free space) and, when
// it answered with that key, its drift — the workspaces the extensions find there compared with the
// records. Run periodically for every host and on demand from the Hosts page.
//
// Rules: a host that fails its check gets no new sandboxes until a check passes again; a changed key
// puts the host in `key_changed`, which only an admin clears; the reconciler never deletes anything —
// orphans wait for an admin's Adopt or Clean up; a ready (or warm-pool) sandbox becomes `missing` only
// when its extension's `status()` confirms the workspace is gone.
import "server-only";

import { setTimeout as delay } from "node:timers/promises";

import { hostFactsArgv, parseHostFacts } from "../../hosts/host-facts";
import { findHost, syncOrphans, toHostTarget, updateHost, type HostRow } from "../../db/hosts";
import { sandboxIdsIn, sandboxesOnHost } from "../../db/sandboxes";
import { formatDuration } from "../../duration";
import { hasCode, isSandboxerError, NotFoundError } from "../../errors";
import type { FoundWorkspace, HostTarget } from "../../extensions/base";
import type { AnyExtension } from "../../extensions/catalog";
import { sshConfigForHost } from "../../extensions/remote/ssh-target";
import { WORKSPACE_PREFIX } from "../../sandbox-id";
import { publicKeyLine, remoteFreeSpace } from "../../ssh";
import { audit } from "../audit";
import { extensionOf, type ManagerContext } from "../context";
import { ACCOUNTED_STATUSES, EXPECT_WORKSPACE_STATUSES, isIn, parseStatus } from "../states";
import { transition } from "../transitions";
import { publishHostChanged } from "../host-views";
import { failureCode, failureMessage, stopKind, type OperationHandler } from "./runtime";

export const runReconcileOperation: OperationHandler = async (ctx, run) => {
  const started = Date.now();
  try {
    const outcome = await run.withTimeout(ctx.config.destroyTimeoutMs, "reconcile", (signal) => reconcileHost(ctx, run.op.hostId!, signal));
    run.log.info({ host: run.op.hostId, ms: Date.now() - started, outcome }, "reconcile done");
    await run.finish({ state: "succeeded", error: outcome });
  } catch (e) {
    if (stopKind(run.signal, e) === "lease-lost") return;
    run.log.warn({ host: run.op.hostId, err: e }, "reconcile failed");
    await run.finish({ state: "failed", errorCode: failureCode(e), error: failureMessage(e) });
  }
};

/** Health first; drift only when the host answered with the pinned key. Returns a one-line summary. */
export async function reconcileHost(ctx: ManagerContext, hostId: string, signal: AbortSignal): Promise<string> {
  try {
    return await checkAndReconcile(ctx, hostId, signal);
  } finally {
    // The hosts page follows health, free space and drift from the team stream.
    await publishHostChanged(ctx, hostId);
  }
}

async function checkAndReconcile(ctx: ManagerContext, hostId: string, signal: AbortSignal): Promise<string> {
  const host = await findHost(ctx.db, hostId);
  if (!host) throw new NotFoundError("Host", hostId);
  if (!ctx.ssh) return "No SSH configuration on this server";
  // Added, moved or rebuilt: no key is trusted until an admin confirms the one it offered; connecting
  // now would only turn that wait into `unreachable` or `key_changed`.
  if (host.health === "unconfirmed") return `waiting for an admin to confirm the host key ${host.offeredHostKey ?? ""}`.trim();
  const target = toHostTarget(host);
  const ssh = ctx.ssh;
  const config = sshConfigForHost(ssh, target);
  const probe = async () => {
    // A fresh handshake: a pooled connection would keep a host whose sshd stopped accepting healthy.
    const blob = await ssh.pool.verifiedHostKey(config, { signal, fresh: true });
    const free = await remoteFreeSpace(ssh.pool, config, host.workspaceRoot, { signal, timeoutMs: 30_000 });
    const out = await ssh.pool.exec(config, hostFactsArgv(host.markerPath), { signal, timeoutMs: 30_000 });
    // verifiedHostKey checked the key against the host's trust (its pin and/or hosts.yaml's known_hosts file).
    await ssh.rememberHostKey(host.id, publicKeyLine(blob));
    return { freeBytes: free, facts: parseHostFacts(out.stdout) };
  };
  const attempt = () =>
    probe().then(
      (ok) => ({ ok }),
      (error: unknown) => ({ error }),
    );
  let now = new Date();
  let outcome = await attempt();
  // A healthy host is not taken out on one missed check: a busy VM can miss one SSH handshake's
  // deadline (seen in CI at load 5), and `unreachable` stops its placements and recycles its warm-pool
  // members. It is asked once more after a pause; a changed key counts at once.
  const again = "error" in outcome && host.health === "healthy" && !hasCode(outcome.error, "SSH_HOST_KEY_CHANGED") && !signal.aborted;
  if (again) {
    await delay(ctx.config.hostCheckRetryMs, undefined, { signal });
    now = new Date();
    outcome = await attempt();
  }
  if ("error" in outcome) {
    const e = outcome.error;
    // Stopped (shutdown, lease lost, the step's deadline): that says nothing about the host.
    if (signal.aborted) throw e;
    if (hasCode(e, "SSH_HOST_KEY_CHANGED")) {
      const offered = String((e.details as { offeredFingerprint?: string } | undefined)?.offeredFingerprint ?? "");
      if (host.health !== "key_changed" || host.offeredHostKey !== offered) {
        await updateHost(ctx.db, host.id, { health: "key_changed", offeredHostKey: offered, healthDetail: e.message, checkedAt: now });
        await audit(ctx, {
          actor: { kind: "system", label: "system (host health)" },
          action: "host.key_changed",
          target: host.id,
          result: "failed",
          message: `${host.id}: pinned ${host.hostKey}, offered ${offered}; new sandboxes stop until an admin pins a key`,
          data: { pinned: host.hostKey, offered },
        });
      } else {
        await updateHost(ctx.db, host.id, { checkedAt: now });
      }
      return `host key changed (offered ${offered})`;
    }
    const twice = again ? ` (checked twice, ${formatDuration(ctx.config.hostCheckRetryMs)} apart)` : "";
    const detail = `${isSandboxerError(e) ? e.message : (e as Error).message}${twice}`;
    // A host in key_changed stays there until an admin acts, whatever else happens.
    await updateHost(
      ctx.db,
      host.id,
      host.health === "key_changed"
        ? { checkedAt: now }
        : { health: host.health === "disabled" ? "disabled" : "unreachable", healthDetail: detail, checkedAt: now },
    );
    return `unreachable: ${detail}`;
  }
  const { freeBytes, facts } = outcome.ok;
  await updateHost(ctx.db, host.id, {
    ...(host.health === "disabled" ? {} : { health: "healthy", healthDetail: null }),
    offeredHostKey: null,
    freeBytes: BigInt(freeBytes),
    checkedAt: now,
    healthyAt: now,
    loadAverage: facts.loadAverage,
    cpuCount: facts.cpuCount,
    freeMemoryBytes: facts.freeMemoryBytes === null ? null : BigInt(facts.freeMemoryBytes),
    imageName: facts.marker?.name ?? null,
    imageVersion: facts.marker?.version ?? null,
    imageBuiltAt: facts.marker?.builtAt ?? null,
    imageDetail: facts.markerProblem,
  });
  const drift = await reconcileWorkspaces(ctx, host, target, signal);
  const image = facts.marker ? `, image ${facts.marker.name} ${facts.marker.version}` : "";
  return `healthy, ${Math.round(freeBytes / 2 ** 20)} MiB free, load ${facts.loadAverage ?? "?"}${image}; ${drift}`;
}

interface FoundBy extends FoundWorkspace {
  extension: AnyExtension;
}

/**
 * Compares what the extensions find on the host with the records: orphans (found, no live record
 * anywhere, and not the real path of a live workspace), missing (a ready record whose workspace is
 * gone, confirmed by its extension's `status()`), and back (a missing one that reappeared).
 */
async function reconcileWorkspaces(ctx: ManagerContext, host: HostRow, target: HostTarget, signal: AbortSignal): Promise<string> {
  const records = await sandboxesOnHost(ctx.db, host.id, ACCOUNTED_STATUSES);
  // Every root a live handle on this host names (a profile may set its own), and the host's own.
  const located = records.map((r) => ({ ...r, status: parseStatus(r.status), where: locate(ctx, r.extensionId, r.handle) }));
  const roots = [...new Set([host.workspaceRoot, ...located.flatMap((r) => (r.where ? [r.where.location.root] : []))])];

  const found = new Map<string, FoundBy>();
  for (const extension of ctx.catalog.extensions.values()) {
    for (const w of await extension.listWorkspaces({ host: target, roots, signal })) {
      const seen = found.get(w.realPath);
      // A specific claim (the extension's own marks) beats a generic one (a directory of that name).
      if (!seen || (seen.claim === "generic" && w.claim === "specific")) found.set(w.realPath, { ...w, extension });
    }
  }
  const byPath = new Map([...found.values()].map((w) => [w.path, w]));
  // A workspace a live handle names, by the real path its listing gave (roots may be symlinks).
  const liveRealPaths = new Set(located.flatMap((r) => (r.where ? [byPath.get(r.where.location.path)?.realPath ?? ""] : [])));
  const live = await sandboxIdsIn(
    ctx.db,
    [...found.values()].map((w) => w.sandboxId),
    ACCOUNTED_STATUSES,
  );
  const orphans = [...found.values()].filter((w) => !live.has(w.sandboxId) && !liveRealPaths.has(w.realPath));
  await syncOrphans(
    ctx.db,
    host.id,
    orphans.map((w) => ({ name: `${WORKSPACE_PREFIX}${w.sandboxId}`, path: w.path, extensionId: w.extension.id })),
    new Date(),
  );

  let missing = 0;
  let back = 0;
  const now = new Date();
  for (const r of located) {
    if (!r.where) continue;
    const present = byPath.has(r.where.location.path);
    if (isIn(EXPECT_WORKSPACE_STATUSES, r.status) && !present) {
      // Not where its root's listing would show it: ask the extension before calling it missing.
      const report = await r.where.extension
        .status(r.where.handle, { sandboxId: r.id, signal, log: () => {} })
        .catch((e: unknown) => ({ state: "unknown" as const, detail: failureMessage(e) }));
      if (report.state !== "missing") continue;
      const reason = r.poolKey
        ? `The warm-pool member's workspace vanished from ${host.title} (found by reconciliation at ${now.toISOString()}); it leaves the pool`
        : `The workspace vanished from ${host.title} (found by reconciliation at ${now.toISOString()}); destroy the sandbox to close it`;
      const moved = await transition(ctx, {
        sandboxId: r.id,
        from: r.status,
        to: "missing",
        set: { statusReason: reason },
        event: { level: "warn", message: `Missing: ${reason}` },
      });
      if (moved.moved) missing++;
    } else if (r.status === "missing" && present && !r.poolKey) {
      // (A pool member that went missing is recycled by the refill, never handed out again.)
      const moved = await transition(ctx, {
        sandboxId: r.id,
        from: "missing",
        to: "ready",
        set: { statusReason: null },
        event: { message: "The workspace is back on the host" },
      });
      if (moved.moved) back++;
    }
  }
  const n = found.size;
  return `${n} workspaces, ${orphans.length} orphan${orphans.length === 1 ? "" : "s"}, ${missing} newly missing${back ? `, ${back} back` : ""}`;
}

/** The record's extension, its parsed handle and where that handle's workspace lives (null when any is unknown). */
function locate(ctx: Pick<ManagerContext, "catalog">, extensionId: string, handle: unknown) {
  const extension = extensionOf(ctx, extensionId);
  if (!extension || handle === null || handle === undefined) return null;
  const parsed = extension.handleSchema.safeParse(handle);
  if (!parsed.success) return null;
  const location = extension.workspaceOf(parsed.data);
  return location ? { extension, handle: parsed.data, location } : null;
}
