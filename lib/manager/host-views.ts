// The hosts as the dashboard and GET /api/v1/hosts show them, and the `host.changed` notice that
// carries one of them on the team stream (the hosts page applies it to its react-query cache without
// a fetch; docs/live-updates.md).
import "server-only";

import type { Db } from "../db/client";
import { hostBeingEdited, hostLabels, listHosts, occupancyByHost } from "../db/hosts";
import type { SshServices } from "../extensions/base";
import { poolCountsByHost } from "../db/pools";
import { knownHostsOnlyFile } from "./host-ops";
import { MAX_TEAM_PAYLOAD, publishTeamEvent } from "./team-events";
import type { Notifier } from "./notifier";
import { iso, type HostView } from "./views";

/**
 * Every host (or only those in `ids`) as pages show it. `ssh` tells which hosts are trusted through a
 * known_hosts file alone (no pin; knownHostsFile).
 */
export async function hostViews(db: Db, ssh: SshServices | undefined, ids?: string[]): Promise<HostView[]> {
  const [hosts, load, pools] = await Promise.all([listHosts(db, ids), occupancyByHost(db, ids), poolCountsByHost(db, ids)]);
  return hosts.map((h) => ({
    id: h.id,
    title: h.title,
    address: h.address,
    port: h.port,
    user: h.user,
    hostKey: h.hostKey,
    offeredHostKey: h.offeredHostKey,
    workspaceRoot: h.workspaceRoot,
    labels: hostLabels(h),
    capacity: h.capacity,
    sandboxes: load.get(h.id) ?? 0,
    pool: pools.get(h.id) ? { ready: pools.get(h.id)!.pooled, total: pools.get(h.id)!.total } : null,
    tunnelPort: h.tunnelPort,
    health: h.health,
    healthDetail: h.healthDetail,
    freeBytes: h.freeBytes === null ? null : Number(h.freeBytes),
    checkedAt: iso(h.checkedAt),
    source: h.source,
    cordoned: h.cordoned,
    cordonReason: h.cordonReason,
    cordonedAt: iso(h.cordonedAt),
    cordonedBy: h.cordonedBy,
    drainedAt: iso(h.drainedAt),
    editingSince: hostBeingEdited(h) ? iso(h.editingSince) : null,
    loadAverage: h.loadAverage,
    cpuCount: h.cpuCount,
    freeMemoryBytes: h.freeMemoryBytes === null ? null : Number(h.freeMemoryBytes),
    markerPath: h.markerPath,
    image: h.imageName && h.imageVersion ? { name: h.imageName, version: h.imageVersion, builtAt: iso(h.imageBuiltAt) } : null,
    imageDetail: h.imageDetail,
    knownHostsFile: knownHostsOnlyFile(ssh, h),
  }));
}

/**
 * Publishes `host.changed` with the host as it is now (`host: null` once it is gone). A view too large
 * for a notice (a very long health detail) goes without `host`: pages then refetch the list.
 */
export async function publishHostChanged(
  deps: { db: Db; notifier: Notifier; ssh?: SshServices; logger?: { warn: (obj: object, msg: string) => void } },
  hostId: string,
): Promise<void> {
  let host: HostView | null | undefined;
  try {
    host = (await hostViews(deps.db, deps.ssh, [hostId]))[0] ?? null;
  } catch (err) {
    deps.logger?.warn({ err, hostId }, "could not read the host for its notice");
  }
  const data = host !== undefined && JSON.stringify({ hostId, host }).length <= MAX_TEAM_PAYLOAD ? { hostId, host } : { hostId };
  await publishTeamEvent(deps, "host.changed", data);
}
