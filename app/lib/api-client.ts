// Browser-side access to /api/v1 for polling, with react-query key factories so mutations can
// invalidate exactly what they changed.
import type { HostDrainView } from "@/lib/manager/host-lifecycle";
import type { SandboxServicesView } from "@/lib/manager/services";
import type { HostView, SandboxDetailView, SandboxEventView, SandboxListView } from "@/lib/manager/views";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { headers: { accept: "application/json" }, cache: "no-store" });
  if (!res.ok) {
    const body = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
    throw new ApiError(res.status, body.code ?? "HTTP_ERROR", body.message ?? res.statusText);
  }
  return (await res.json()) as T;
}

export type ListFilters = { status?: string; owner?: string; profile?: string; mine?: string; page?: string; q?: string; recent?: string };

export const sandboxKeys = {
  all: ["sandboxes"] as const,
  lists: () => [...sandboxKeys.all, "list"] as const,
  list: (f: ListFilters) => [...sandboxKeys.lists(), f] as const,
  detail: (id: string) => [...sandboxKeys.all, "detail", id] as const,
  events: (id: string) => [...sandboxKeys.all, "events", id] as const,
  services: (id: string) => [...sandboxKeys.all, "services", id] as const,
};

export function fetchSandboxList(f: ListFilters): Promise<SandboxListView> {
  const qs = new URLSearchParams(Object.entries(f).filter((e): e is [string, string] => typeof e[1] === "string" && e[1] !== ""));
  return getJson(`/api/v1/sandboxes?${qs.toString()}`);
}

export function fetchSandboxServices(id: string): Promise<SandboxServicesView> {
  return getJson(`/api/v1/sandboxes/${encodeURIComponent(id)}/services`);
}

export function fetchSandbox(id: string): Promise<SandboxDetailView> {
  return getJson(`/api/v1/sandboxes/${encodeURIComponent(id)}?detail=1`);
}

export function fetchSandboxEvents(id: string, after = 0): Promise<{ events: SandboxEventView[] }> {
  return getJson(`/api/v1/sandboxes/${encodeURIComponent(id)}/events?format=json&after=${after}`);
}

export const hostKeys = {
  all: ["hosts"] as const,
  list: () => [...hostKeys.all, "list"] as const,
  /** The drain reports of the cordoned hosts (the ids, sorted, are part of the key). */
  drains: (ids: string[]) => [...hostKeys.all, "drains", ids] as const,
};

export function fetchHosts(): Promise<HostView[]> {
  return getJson("/api/v1/hosts");
}

export function fetchDrainReports(ids: string[]): Promise<HostDrainView[]> {
  return Promise.all(ids.map((id) => getJson<HostDrainView>(`/api/v1/hosts/${encodeURIComponent(id)}/drain`)));
}
