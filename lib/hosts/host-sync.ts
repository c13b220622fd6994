// Keeps the host registry (database) in step with hosts.yaml at start: new hosts are added, changed
// fields updated, hosts no longer listed are disabled (never deleted: sandboxes may still live there).
// Reverse-tunnel ports are allocated here: "auto" takes the lowest free port of the configured range,
// and the unique constraint on BuildHost.tunnelPort makes two hosts holding one port impossible.
import "server-only";

import type { Db } from "../db/client";
import { ConflictError } from "../errors";
import type { HostEntry } from "./hosts-file";

export interface PortRange {
  low: number;
  high: number;
}

/**
 * Gives `hostId` a tunnel port from the range (keeping the one it has). Races between instances are
 * settled by the database's unique constraint: the loser moves on to the next free port.
 */
export async function allocateTunnelPort(db: Db, hostId: string, range: PortRange): Promise<number> {
  const current = await db.buildHost.findUnique({ where: { id: hostId }, select: { tunnelPort: true } });
  if (current?.tunnelPort) return current.tunnelPort;
  for (let attempt = 0; attempt < 20; attempt++) {
    const taken = new Set(
      (await db.buildHost.findMany({ where: { tunnelPort: { gte: range.low, lte: range.high } }, select: { tunnelPort: true } })).map(
        (h) => h.tunnelPort!,
      ),
    );
    let port: number | null = null;
    for (let p = range.low; p <= range.high; p++) {
      if (!taken.has(p)) {
        port = p;
        break;
      }
    }
    if (port === null)
      throw new ConflictError("TUNNEL_PORTS_EXHAUSTED", `No free tunnel port left in ${range.low}-${range.high} (SANDBOXER_TUNNEL_PORTS)`);
    try {
      await db.buildHost.update({ where: { id: hostId }, data: { tunnelPort: port } });
      return port;
    } catch (e) {
      if ((e as { code?: string }).code !== "P2002") throw e; // someone took it a moment ago
    }
  }
  throw new ConflictError("TUNNEL_PORTS_BUSY", "Could not allocate a tunnel port after 20 tries; try again");
}

export interface SyncResult {
  added: string[];
  updated: string[];
  disabled: string[];
}

/** A fixed tunnel port from hosts.yaml that another host already holds (e.g. one allocated earlier). */
async function portHolder(db: Db, port: number, except: string): Promise<string | null> {
  const holder = await db.buildHost.findFirst({ where: { tunnelPort: port, NOT: { id: except } }, select: { id: true } });
  return holder?.id ?? null;
}

export async function syncHosts(db: Db, entries: HostEntry[], range: PortRange): Promise<SyncResult> {
  const result: SyncResult = { added: [], updated: [], disabled: [] };
  const existing = new Map((await db.buildHost.findMany()).map((h) => [h.id, h]));
  for (const h of entries) {
    if (typeof h.tunnelPort !== "number") continue;
    const holder = await portHolder(db, h.tunnelPort, h.id);
    if (holder && !entries.some((e) => e.id === holder && e.tunnelPort !== h.tunnelPort)) {
      throw new ConflictError(
        "TUNNEL_PORT_TAKEN",
        `hosts.yaml gives host "${h.id}" tunnel port ${h.tunnelPort}, which host "${holder}" holds`,
      );
    }
    // An auto-allocated port the file now gives to another host moves: free it first.
    if (holder) await db.buildHost.update({ where: { id: holder }, data: { tunnelPort: null } });
  }
  // Fixed ports first, so an "auto" host never takes a port the file gives to someone else.
  const ordered = [...entries].sort((a, b) => Number(a.tunnelPort === "auto") - Number(b.tunnelPort === "auto"));
  for (const h of ordered) {
    const fixedPort = typeof h.tunnelPort === "number" ? h.tunnelPort : null;
    const data = {
      title: h.title ?? h.id,
      address: h.address ?? "127.0.0.1",
      user: h.user,
      workspaceRoot: h.workspaceRoot,
      labels: h.labels,
      capacity: h.capacity,
      markerPath: h.markerPath ?? "/etc/sandboxer-image.json",
      source: "config",
    };
    const before = existing.get(h.id);
    // A host trusted through a known_hosts file alone has no pin: its hostKey is filled in with the
    // fingerprint the file verified at the first connection (ssh-services.ts rememberHostKey).
    const configKey = h.hostKey ?? null;
    if (!before) {
      await db.buildHost.create({
        data: {
          id: h.id,
          ...data,
          port: h.port ?? fixedPort ?? 22,
          hostKey: configKey ?? "",
          configHostKey: configKey,
          tunnelPort: fixedPort,
        },
      });
      result.added.push(h.id);
    } else {
      // A key an admin pinned in the dashboard (after a rebuild) stays until hosts.yaml itself changes
      // its key; then the file wins again.
      const keyChangedInFile = before.configHostKey !== configKey;
      await db.buildHost.update({
        where: { id: h.id },
        data: {
          ...data,
          ...(h.port !== undefined || fixedPort !== null ? { port: h.port ?? fixedPort! } : {}),
          ...(keyChangedInFile
            ? {
                hostKey: configKey ?? "",
                configHostKey: configKey,
                offeredHostKey: null,
                hostPublicKey: null,
                health: "unknown",
                healthDetail: null,
              }
            : {}),
          ...(fixedPort !== null ? { tunnelPort: fixedPort } : {}),
          ...(before.health === "disabled" && before.healthDetail?.startsWith("Not in hosts.yaml")
            ? { health: "unknown", healthDetail: null }
            : {}),
        },
      });
      result.updated.push(h.id);
    }
    if (h.tunnelPort === "auto") {
      const port = await allocateTunnelPort(db, h.id, range);
      if (h.port === undefined) await db.buildHost.update({ where: { id: h.id }, data: { port } });
    }
  }
  const listed = new Set(entries.map((h) => h.id));
  for (const [id, h] of existing) {
    if (!listed.has(id) && h.source === "config" && h.health !== "disabled") {
      await db.buildHost.update({
        where: { id },
        data: { health: "disabled", healthDetail: "Not in hosts.yaml any more: gets no new sandboxes" },
      });
      result.disabled.push(id);
    }
  }
  return result;
}
