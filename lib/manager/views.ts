// What the manager hands to surfaces (pages, the API, the CLI): plain, serialisable objects with dates
// as ISO strings and the destroy handle already in human terms. No Prisma types leak past here.
import type { SandboxPermissions } from "../auth/policy";
import type { HandleSummary } from "../extensions/base";
import type { ProfileInputSpec } from "../extensions/profile-inputs";
import type { ConfigIssue } from "../extensions/yaml-config";
import type { SandboxStatus } from "./states";

export interface PersonView {
  id: string;
  name: string;
  email: string;
}

export interface SandboxView {
  id: string;
  owner: PersonView;
  profileId: string;
  profileTitle: string;
  extensionId: string;
  host: { id: string; title: string; address: string; port: number } | null;
  status: SandboxStatus;
  statusReason: string | null;
  createdAt: string;
  updatedAt: string;
  readyAt: string | null;
  destroyedAt: string | null;
  expiresAt: string | null;
  maxExpiresAt: string | null;
  /** The destroy handle in human terms; null until create recorded one. */
  handle: HandleSummary | null;
}

export interface QueueInfo {
  /** 1-based place among queued creates, oldest first. */
  position: number;
  reason: string;
}

export interface TimelineEntry {
  id: number;
  at: string;
  status: string;
  message: string;
  actor: string | null;
}

export interface SandboxDetailView extends SandboxView {
  input: Record<string, unknown>;
  timeline: TimelineEntry[];
  queue: QueueInfo | null;
  /** Set while its work is not moving and why (a dead worker's expired lease, no live worker): ./waiting.ts. */
  stuck: { reason: string; since: string | null } | null;
  /** Whether the viewer may destroy it (owner or admin); set by the caller that knows the viewer. */
  canDestroy?: boolean;
  /** What the viewer may do to it (lib/auth/policy.ts), when the caller knows the viewer. */
  permissions?: SandboxPermissions;
  /** How much longer the owner may extend it, in ms (0: at the profile's maximum). */
  extendableMs: number;
}

export interface SandboxEventView {
  id: number;
  type: "log" | "state";
  level: string;
  message: string;
  at: string;
  status?: string;
}

export interface ProfileView {
  id: string;
  title: string;
  description: string;
  extension: string;
  /** Host name or label the profile targets, for display. */
  target: string | null;
  ttl: string;
  maxTtl: string;
  runbook: string | null;
  tags: string[];
  inputs: ProfileInputSpec[];
  source: string;
  usable: boolean;
  errors: ConfigIssue[];
  /** The profile's warm pool and how full it is (null: no pool). */
  pool: ProfilePoolView | null;
}

export interface ProfilePoolView {
  size: number;
  refillConcurrency: number;
  maxAge: string;
  /** Members ready to be claimed. */
  ready: number;
  /** Members being made. */
  filling: number;
}

/**
 * Warm-pool counts, as the team stream's `pool` frame carries them (docs/live-updates.md): per profile
 * with a pool, members ready and being made (the profile card's "3/4 ready"); per host with members,
 * ready ones and all live ones (the hosts page's "pool 3/4 ready"; a host absent has none).
 */
export interface PoolCountsView {
  profiles: Record<string, { ready: number; filling: number }>;
  hosts: Record<string, { ready: number; total: number }>;
}

export interface HostView {
  id: string;
  title: string;
  address: string;
  port: number;
  user: string;
  hostKey: string;
  offeredHostKey: string | null;
  workspaceRoot: string;
  labels: string[];
  capacity: number;
  sandboxes: number;
  /** Warm-pool members on the host (counted in `sandboxes`): ready ones and all (null: none). */
  pool: { ready: number; total: number } | null;
  tunnelPort: number | null;
  health: string;
  healthDetail: string | null;
  freeBytes: number | null;
  checkedAt: string | null;
  /** "config" (hosts.yaml, which wins on conflict) or "admin" (added from the dashboard). */
  source: string;
  /** No new sandboxes, whatever the health (an admin's cordon or drain, or a revoked image). */
  cordoned: boolean;
  cordonReason: string | null;
  cordonedAt: string | null;
  cordonedBy: string | null;
  drainedAt: string | null;
  /**
   * Since when an admin's change of where it is reached (address, port, tunnel port, user, workspace
   * root) or its removal is being checked — its new key probed, its sandboxes looked for. No new
   * sandboxes meanwhile. Null when no change is under way (or one's mark has lapsed).
   */
  editingSince: string | null;
  loadAverage: number | null;
  cpuCount: number | null;
  freeMemoryBytes: number | null;
  markerPath: string;
  /** The image the VM's marker names, at the last health check. */
  image: { name: string; version: string; builtAt: string | null } | null;
  imageDetail: string | null;
  /**
   * hosts.yaml trusts this host through this known_hosts file alone (no pin): a changed key is fixed
   * in the file, not pinned here. Null for pinned hosts.
   */
  knownHostsFile: string | null;
}

export interface SandboxListView {
  rows: SandboxView[];
  total: number;
  page: number;
  pageSize: number;
  pages: number;
  counts: Partial<Record<SandboxStatus, number>>;
}

export function iso(d: Date | null | undefined): string | null {
  return d ? d.toISOString() : null;
}

export interface AuditEntryView {
  id: number;
  at: string;
  actor: string | null;
  actorId: string | null;
  action: string;
  target: string | null;
  result: string;
  sourceIp: string | null;
  message: string;
  data: unknown;
}
