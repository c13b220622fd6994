// Instances that share one database know of each other: each web instance records itself (id, the
// machine, its SANDBOXER_PUBLIC_URL, a heartbeat) in the Instance table at start and every minute.
// Instances behind one load balancer must share SANDBOXER_PUBLIC_URL (sign-in redirects and cookies
// are issued for it): one that sees a live peer with another value says so loudly — at start, and
// when such a peer appears later.
import "server-only";

import { instanceHeartbeat, livePeerInstances, removeInstance } from "../db/instances";
import type { ManagerContext } from "./context";

export const INSTANCE_HEARTBEAT_MS = 60_000;
/** A peer that has not heartbeated for this long is not compared. */
export const INSTANCE_STALE_MS = 3 * INSTANCE_HEARTBEAT_MS;

export interface InstanceInfo {
  id: string;
  machineId: string | null;
  publicUrl: string;
  role: string;
}

export interface PublicUrlMismatch {
  peer: string;
  peerUrl: string;
  message: string;
}

/** Records this instance and returns the live peers whose public URL differs from ours. */
export async function registerInstance(m: Pick<ManagerContext, "db">, me: InstanceInfo, now = new Date()): Promise<PublicUrlMismatch[]> {
  await instanceHeartbeat(m.db, me, now);
  const peers = await livePeerInstances(m.db, me.id, new Date(now.getTime() - INSTANCE_STALE_MS));
  return peers
    .filter((p) => p.publicUrl !== me.publicUrl)
    .map((p) => ({
      peer: p.id,
      peerUrl: p.publicUrl,
      message:
        `SANDBOXER_PUBLIC_URL differs between instances sharing this database: this instance (${me.id}) uses ${me.publicUrl}, ` +
        `instance ${p.id} uses ${p.publicUrl}. Behind one load balancer sign-in breaks (redirects and cookies are issued for one URL): ` +
        "give every instance the same SANDBOXER_PUBLIC_URL",
    }));
}

/**
 * Registers at start (logging every mismatch as an error), then heartbeats every minute and reports a
 * mismatching peer the first time it is seen. Returns a stop function (deregisters).
 */
export async function watchPeers(m: Pick<ManagerContext, "db" | "logger">, me: InstanceInfo): Promise<() => Promise<void>> {
  const reported = new Set<string>();
  const report = (found: PublicUrlMismatch[]) => {
    for (const f of found) {
      if (reported.has(`${f.peer} ${f.peerUrl}`)) continue;
      reported.add(`${f.peer} ${f.peerUrl}`);
      m.logger.error({ peer: f.peer, peerUrl: f.peerUrl, publicUrl: me.publicUrl }, f.message);
    }
  };
  report(await registerInstance(m, me));
  const timer = setInterval(() => {
    registerInstance(m, me).then(report, (e: unknown) => m.logger.warn({ err: e }, "instance heartbeat failed"));
  }, INSTANCE_HEARTBEAT_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await removeInstance(m.db, me.id).catch(() => {});
  };
}
