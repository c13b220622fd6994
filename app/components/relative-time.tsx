"use client";

import { useSyncExternalStore } from "react";

import { formatDuration } from "@/lib/duration";

// One shared clock for every RelativeTime on the page, ticking every 15 s.
let now = Date.now();
const listeners = new Set<() => void>();
let timer: ReturnType<typeof setInterval> | null = null;

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  if (!timer) {
    now = Date.now();
    timer = setInterval(() => {
      now = Date.now();
      for (const l of listeners) l();
    }, 15_000);
  }
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0 && timer) {
      clearInterval(timer);
      timer = null;
    }
  };
}

/** "3m ago" (since) / "7h 58m left" (until) / "in 7h 58m" (in); the full timestamp on hover. */
export function RelativeTime({ iso, mode = "since" }: { iso: string | null; mode?: "since" | "until" | "in" }) {
  // The server renders a placeholder (its clock is not the browser's): no hydration mismatch.
  const current = useSyncExternalStore(
    subscribe,
    () => now,
    () => null,
  );
  if (!iso) return <span className="text-muted-foreground">—</span>;
  if (current === null)
    return (
      <time dateTime={iso} className="tabular text-muted-foreground">
        …
      </time>
    );
  const at = new Date(iso).getTime();
  const diff = mode === "since" ? current - at : at - current;
  const text =
    mode === "since"
      ? `${formatDuration(Math.max(0, diff))} ago`
      : mode === "in"
        ? diff > 0
          ? `in ${formatDuration(diff)}`
          : "due now"
        : diff > 0
          ? `${formatDuration(diff)} left`
          : "expired";
  return (
    <time dateTime={iso} title={new Date(iso).toLocaleString()} className="tabular whitespace-nowrap">
      {text}
    </time>
  );
}
