// Synthetic data for scale tests, the benchmark and screenshots: people, hosts and many sandboxes in
// every status (most of them long destroyed, as in a team that has used sand-boxer for a while), with
// a few log lines each. Never run against a database that holds real data: callers pass a fresh one.
import "server-only";

import { randomUUID } from "node:crypto";

import { newSandboxId } from "../sandbox-id";
import type { Db, Prisma } from "./client";
import { insertSandboxFixtures } from "./sandboxes";
import { withStatusWrites } from "./status-guard";

export interface SeedOptions {
  sandboxes: number;
  /** How many of them are active (not destroyed). */
  active: number;
  users?: number;
  hosts?: number;
  profiles?: string[];
  /** Owner of some of the sandboxes (e.g. the account a test signs in with). */
  ownerId?: string;
}

export interface SeedResult {
  userIds: string[];
  hostIds: string[];
  sandboxIds: string[];
}

const ACTIVE_MIX = ["ready", "ready", "ready", "ready", "creating", "queued", "failed", "destroy_failed", "destroying", "missing"] as const;

export async function seedSandboxes(db: Db, opts: SeedOptions): Promise<SeedResult> {
  const profiles = opts.profiles ?? ["profile.vm-haskell-build", "profile.local"];
  const userIds: string[] = opts.ownerId ? [opts.ownerId] : [];
  const users = opts.users ?? 25;
  const newUsers: Prisma.UserCreateManyInput[] = [];
  for (let i = userIds.length; i < users; i++) {
    const id = `seed_u_${randomUUID().slice(0, 8)}`;
    userIds.push(id);
    newUsers.push({ id, name: `Engineer ${i}`, email: `engineer${i}-${id.slice(-4)}@example.test`, role: i === 0 ? "admin" : "member" });
  }
  if (newUsers.length) await db.user.createMany({ data: newUsers });
  const hostIds: string[] = [];
  const hosts: Prisma.BuildHostCreateManyInput[] = [];
  for (let i = 0; i < (opts.hosts ?? 4); i++) {
    const id = `seed-vm-${i + 1}`;
    hostIds.push(id);
    hosts.push({
      id,
      title: `Haskell build VM ${i + 1}`,
      address: `127.0.${i + 1}.1`,
      port: 22,
      user: "build",
      hostKey: "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      workspaceRoot: "/build",
      labels: ["haskell"],
      capacity: 200,
      tunnelPort: 12300 + i,
      health: "healthy",
    });
  }
  await db.buildHost.createMany({ data: hosts });

  const now = Date.now();
  const sandboxIds: string[] = [];
  const rows: Prisma.SandboxCreateManyInput[] = [];
  const events: Prisma.EventCreateManyInput[] = [];
  for (let i = 0; i < opts.sandboxes; i++) {
    const id = newSandboxId();
    sandboxIds.push(id);
    // Spread over the last 90 days, newest first in id order.
    const createdAt = new Date(now - Math.floor(((opts.sandboxes - i) / opts.sandboxes) * 90 * 86_400_000) - 60_000);
    const active = i >= opts.sandboxes - opts.active;
    const status = active ? ACTIVE_MIX[i % ACTIVE_MIX.length]! : "destroyed";
    const hostId = hostIds[i % hostIds.length]!;
    const root = "/build";
    rows.push({
      id,
      ownerId: userIds[i % userIds.length]!,
      profileId: profiles[i % profiles.length]!,
      extensionId: "ext.vm-packer",
      hostId,
      status,
      statusReason:
        status === "failed"
          ? "git clone of … at main failed (exit 128): Remote branch main not found"
          : status === "destroyed"
            ? `Removed ${root}/sbx-${id}`
            : null,
      handle: {
        extension: "ext.vm-packer",
        host_id: hostId,
        vm_target: hosts[i % hosts.length]!.address,
        ssh_port: 22,
        ssh_user: "build",
        workspace_root: root,
        workspace_path: `${root}/sbx-${id}`,
        host_key: "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
      },
      params: { host: null, hostLabel: "haskell" },
      input: { ref: "main" },
      createdAt,
      updatedAt: createdAt,
      readyAt: status === "queued" || status === "creating" ? null : new Date(createdAt.getTime() + 4_000),
      destroyedAt: status === "destroyed" ? new Date(createdAt.getTime() + 3_600_000) : null,
      expiresAt: new Date(active ? now + 4 * 3_600_000 + (i % 240) * 60_000 : createdAt.getTime() + 8 * 3_600_000),
      maxExpiresAt: new Date(createdAt.getTime() + 72 * 3_600_000),
    });
    events.push(
      { sandboxId: id, type: "state", message: "Queued", data: { status: "queued" }, createdAt },
      { sandboxId: id, type: "log", message: `Created ${root}/sbx-${id}`, createdAt: new Date(createdAt.getTime() + 1_000) },
    );
  }
  // Fixtures at rest (the scale test and the benchmark): rows are written in their final statuses
  // directly, the one place besides the transition function allowed to (see lib/db/status-guard.ts).
  await withStatusWrites(() => insertSandboxFixtures(db, rows));
  for (let i = 0; i < events.length; i += 2000) await db.event.createMany({ data: events.slice(i, i + 2000) });
  return { userIds, hostIds, sandboxIds };
}
