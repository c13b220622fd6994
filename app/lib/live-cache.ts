// How a frame of the team event stream changes what react-query holds, as pure functions (unit-tested
// in live-cache.test.ts): a sandbox snapshot replaces its row in every list that shows it (and is added
// at the top of first pages whose filters it matches), adjusting the status counts; log and state
// events are appended to the sandbox's log and timeline. Applying the same frame twice changes nothing,
// so a tab may be sent frames its server render already reflected.
import type { HostView, SandboxDetailView, SandboxEventView, SandboxListView, SandboxView } from "@/lib/manager/views";

import type { ListFilters } from "./api-client";
import type { TeamSandboxEvent } from "./team-stream";

/** Whether a list with these filters would contain `s` (only first pages take new rows). */
export function listWants(filters: ListFilters, s: SandboxView, viewerId: string): boolean {
  if (filters.q) return false; // text search: the server decides
  if (filters.page && filters.page !== "1") return false;
  const statuses = filters.status ? filters.status.split(",") : null;
  // The overview's default view takes the recently destroyed too (as their own group: ?recent=1).
  if (statuses ? !statuses.includes(s.status) : s.status === "pooled" || (s.status === "destroyed" && filters.recent !== "1")) return false;
  if (filters.mine === "1" && s.owner.id !== viewerId) return false;
  if (filters.owner && s.owner.id !== (filters.owner === "me" ? viewerId : filters.owner)) return false;
  if (filters.profile && filters.profile !== s.profileId) return false;
  return true;
}

function bump(counts: SandboxListView["counts"], from: string | null, to: string): SandboxListView["counts"] {
  if (from === to) return counts;
  const next = { ...counts } as Record<string, number>;
  if (from) next[from] = Math.max(0, (next[from] ?? 0) - 1);
  next[to] = (next[to] ?? 0) + 1;
  return next as SandboxListView["counts"];
}

/** The list after `s` changed (the same object when the list is not concerned). */
export function applySandboxToList(list: SandboxListView, filters: ListFilters, s: SandboxView, viewerId: string): SandboxListView {
  const at = list.rows.findIndex((r) => r.id === s.id);
  if (at >= 0) {
    const old = list.rows[at]!;
    if (old.updatedAt > s.updatedAt) return list; // an older snapshot than the one shown
    const rows = list.rows.slice();
    rows[at] = s;
    return { ...list, rows, counts: bump(list.counts, old.status, s.status) };
  }
  if (!listWants(filters, s, viewerId)) return list;
  const rows = [s, ...list.rows].slice(0, list.pageSize);
  const total = list.total + 1;
  return { ...list, rows, total, pages: Math.max(1, Math.ceil(total / list.pageSize)), counts: bump(list.counts, null, s.status) };
}

/** The detail page's data after a snapshot (what only the detail carries is kept). */
export function applySandboxToDetail(detail: SandboxDetailView, s: SandboxView): SandboxDetailView {
  if (detail.updatedAt > s.updatedAt) return detail;
  const moved = s.status !== detail.status;
  return { ...detail, ...s, queue: s.status === "queued" ? detail.queue : null, stuck: moved ? null : detail.stuck };
}

/** The timeline after a state event (no-op for log lines and events it already has). */
export function applyEventToTimeline(detail: SandboxDetailView, e: TeamSandboxEvent): SandboxDetailView {
  if (e.type !== "state" || detail.timeline.some((t) => t.id === e.id)) return detail;
  const timeline = [...detail.timeline, { id: e.id, at: e.at, status: e.status ?? "", message: e.message, actor: null }].sort(
    (a, b) => a.id - b.id,
  );
  return { ...detail, timeline };
}

/** The log after an event: appended in id order, never twice. */
export function applyEventToLog(log: SandboxEventView[], e: TeamSandboxEvent): SandboxEventView[] {
  const last = log.at(-1);
  const view: SandboxEventView = { id: e.id, type: e.type, level: e.level, message: e.message, at: e.at, status: e.status };
  if (!last || last.id < e.id) return [...log, view];
  if (log.some((x) => x.id === e.id)) return log;
  return [...log, view].sort((a, b) => a.id - b.id);
}

/**
 * The hosts list after a `host.changed` notice that carries the host (`null`: removed). New hosts are
 * added in id order, as GET /api/v1/hosts lists them. The same list object when nothing changed.
 */
export function applyHostToList(list: HostView[], hostId: string, host: HostView | null): HostView[] {
  const i = list.findIndex((h) => h.id === hostId);
  if (host === null) return i < 0 ? list : list.filter((h) => h.id !== hostId);
  if (i >= 0) return list.map((h) => (h.id === hostId ? host : h));
  return [...list, host].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
