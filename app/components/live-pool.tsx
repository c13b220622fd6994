"use client";

// Warm-pool counts that follow the team stream's `pool` frames (lib/manager/team-stream.ts): the
// profile card's "3/4 ready" and the hosts page's "pool 3/4 ready" change as members are made and
// claimed, without a reload. The server renders the first counts; each frame replaces them.
import { useState } from "react";

import type { PoolCountsView } from "@/lib/manager/views";

import { useTeamEvent } from "../lib/team-stream";

/** The counts a `pool` frame gives one profile or host; null: the frame says a host has no members. */
export function poolCountsFor(
  frame: PoolCountsView,
  kind: "profile" | "host",
  id: string,
): { ready: number; other: number } | null | undefined {
  if (kind === "profile") {
    const c = frame.profiles[id];
    return c ? { ready: c.ready, other: c.filling } : undefined;
  }
  const h = frame.hosts[id];
  return h ? { ready: h.ready, other: h.total } : null;
}

type Counts = { ready: number; other: number } | null;

/** The counts the server rendered, then each frame's; a re-render with new server counts (router.refresh) starts over from them. */
function useLiveCounts(kind: "profile" | "host", id: string, initial: Counts): Counts {
  const rendered = initial ? `${initial.ready}/${initial.other}` : "none";
  const [live, setLive] = useState<{ rendered: string; counts: Counts }>({ rendered, counts: initial });
  useTeamEvent((frame) => {
    if (frame.type !== "pool") return;
    const next = poolCountsFor(frame.data, kind, id);
    if (next !== undefined) setLive({ rendered, counts: next });
  });
  return live.rendered === rendered ? live.counts : initial;
}

/** "3/4 ready, 1 being made" on a profile card. */
export function LiveProfilePool({ profileId, size, ready, filling }: { profileId: string; size: number; ready: number; filling: number }) {
  const c = useLiveCounts("profile", profileId, { ready, other: filling }) ?? { ready: 0, other: 0 };
  return (
    <span data-testid="profile-pool-count">
      {c.ready}/{size} ready{c.other ? `, ${c.other} being made` : ""}
    </span>
  );
}

/** "pool 3/4 ready" under a host's load; nothing while it holds no members. */
export function LiveHostPool({ hostId, pool }: { hostId: string; pool: { ready: number; total: number } | null }) {
  const c = useLiveCounts("host", hostId, pool ? { ready: pool.ready, other: pool.total } : null);
  if (!c) return null;
  return (
    <div className="text-xs text-muted-foreground" data-testid="host-pool">
      pool {c.ready}/{c.other} ready
    </div>
  );
}
