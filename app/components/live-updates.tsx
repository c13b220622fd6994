"use client";

// Applies the team event stream to react-query's cache for every dashboard page (mounted once in the
// layout): lists, sandbox pages and logs change the moment the server stores a change, with no
// polling. When the stream comes back after a gap, or says the gap was too long (`reset`), the
// queries on screen refetch once. Shows a small "Live" / "Reconnecting" mark in the header.
import { useQueryClient, type QueryKey } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useEffect, useRef } from "react";

import type { SandboxDetailView, SandboxEventView, SandboxListView } from "@/lib/manager/views";

import { sandboxKeys, type ListFilters } from "../lib/api-client";
import { applyEventToLog, applyEventToTimeline, applySandboxToDetail, applySandboxToList } from "../lib/live-cache";
import { teamStream, useTeamEvent, useTeamStreamUp, type TeamSandboxEvent } from "../lib/team-stream";
import { cn } from "./ui/cn";

export function LiveUpdates({ viewerId }: { viewerId: string }) {
  const queryClient = useQueryClient();
  const up = useTeamStreamUp();
  const wasUp = useRef(false);

  useEffect(() => {
    // Back after a gap: what changed meanwhile is fetched once (the first connect needs nothing: the
    // worker replays what arrived since this page started loading).
    if (up && wasUp.current === false && document.documentElement.dataset.streamSeen === "1")
      void queryClient.invalidateQueries({ queryKey: sandboxKeys.all });
    if (up) document.documentElement.dataset.streamSeen = "1";
    wasUp.current = up;
  }, [up, queryClient]);

  useTeamEvent((frame) => {
    if (frame.type === "sandbox") {
      const s = frame.data;
      for (const [key, list] of queryClient.getQueriesData<SandboxListView>({ queryKey: sandboxKeys.lists() })) {
        if (!list) continue;
        const filters = ((key as QueryKey)[2] ?? {}) as ListFilters;
        const next = applySandboxToList(list, filters, s, viewerId);
        if (next !== list) queryClient.setQueryData(key, next);
      }
      queryClient.setQueryData<SandboxDetailView>(sandboxKeys.detail(s.id), (d) => (d ? applySandboxToDetail(d, s) : d));
    } else if (frame.type === "log" || frame.type === "state") {
      const e: TeamSandboxEvent = frame.data;
      queryClient.setQueryData<SandboxEventView[]>(sandboxKeys.events(e.sandboxId), (log) => (log ? applyEventToLog(log, e) : log));
      if (e.type === "state")
        queryClient.setQueryData<SandboxDetailView>(sandboxKeys.detail(e.sandboxId), (d) => (d ? applyEventToTimeline(d, e) : d));
    } else if (frame.type === "reset") {
      void queryClient.invalidateQueries();
    }
  });

  return (
    <span
      className={cn("flex items-center gap-1.5 text-xs text-muted-foreground")}
      data-testid="stream-status"
      data-live={up ? "1" : "0"}
      title={up ? "Updates arrive as they happen" : "Reconnecting; pages refresh every 15 s meanwhile"}
    >
      <span aria-hidden className={cn("size-2 rounded-full", up ? "bg-emerald-500" : "bg-amber-500")} />
      {up ? "Live" : "Reconnecting"}
    </span>
  );
}

/** Re-renders a server page (router.refresh) when the stream reports a change it shows. */
export function RefreshOnStream({ topics, sandboxes = false }: { topics: string[]; sandboxes?: boolean }) {
  const router = useRouter();
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const wanted = topics.join(",");
  useTeamEvent((frame) => {
    const hit = (frame.type === "team" && wanted.split(",").includes(frame.data.topic)) || (sandboxes && frame.type === "sandbox");
    // Several changes in a burst: one refresh.
    if (hit) timer.current ??= setTimeout(() => ((timer.current = null), router.refresh()), 300);
  });
  useEffect(() => () => void (timer.current && clearTimeout(timer.current)), []);
  return null;
}

/**
 * Rendered by a page with the event id it read before its data (lib/manager/team-stream.ts
 * teamStreamCursor): the team stream then replays every change after it, so nothing that happened
 * between the page's render and the stream's start is missed.
 */
export function StreamFrom({ after }: { after: number }) {
  useEffect(() => teamStream().resumeFrom(after), [after]);
  return null;
}
