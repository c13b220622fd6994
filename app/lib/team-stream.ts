// The browser side of the team event stream: one connection per browser, shared by its tabs through a
// SharedWorker (public/stream-worker.js); where SharedWorker does not exist, this tab opens its own.
// Components subscribe with useTeamEvent / useTeamTopic and read whether the stream is up with
// useTeamStreamUp (queries poll slowly only while it is down). docs/live-updates.md has the frames.
"use client";

import { useEffect, useRef, useSyncExternalStore } from "react";

import type { TeamTopic, TeamTopics } from "@/lib/manager/team-events";
import type { PoolCountsView, SandboxView } from "@/lib/manager/views";

export type StreamEventType = "log" | "state" | "sandbox" | "team" | "pool" | "ready" | "reset";

export interface TeamSandboxEvent {
  sandboxId: string;
  id: number;
  type: "log" | "state";
  level: string;
  message: string;
  at: string;
  status?: string;
}

export interface TeamNotice {
  id: number;
  type: "team";
  topic: string;
  data: unknown;
  at: string;
}

export type StreamFrame =
  | { type: "log" | "state"; data: TeamSandboxEvent }
  | { type: "sandbox"; data: SandboxView }
  | { type: "team"; data: TeamNotice }
  | { type: "pool"; data: PoolCountsView }
  | { type: "ready" | "reset"; data: { lastEventId: number } };

/** How often queries refetch while the stream is down (never while it is up). */
export const FALLBACK_POLL_MS = 15_000;

type Listener = (frame: StreamFrame) => void;

/** Frames a tab keeps for pages that mount after them (a client-side navigation). */
const RECENT_MAX = 500;

class TeamStreamClient {
  private readonly listeners = new Set<Listener>();
  private readonly statusListeners = new Set<() => void>();
  private started = false;
  private connected = false;
  /** Recent frames with the event id they came at or after (for pages that mount a moment late). */
  private readonly recent: { id: number; frame: StreamFrame }[] = [];
  private lastId = 0;
  /** The earliest event id a page on screen was rendered at (its stream replays from there). */
  private after: number | null = null;
  up = false;

  /**
   * A page rendered at event id `after` (components/live-updates.tsx StreamFrom): the stream must
   * bring it everything after that, also what happened before the stream was open.
   */
  resumeFrom(after: number): void {
    if (after <= 0) return;
    if (!this.connected) {
      if (this.after === null || after < this.after) this.after = after;
      return;
    }
    // Already live (a client-side navigation): the frames that came after the page's render reached
    // the cache before the page's queries existed; apply them again (applying is idempotent).
    for (const r of this.recent) if (r.id > after) for (const l of this.listeners) l(r.frame);
  }

  /** Starts after the current render's effects have run, so every page's resumeFrom is in. */
  start(): void {
    if (this.started || typeof window === "undefined") return;
    this.started = true;
    setTimeout(() => this.connect(), 0);
  }

  private connect(): void {
    this.connected = true;
    if (typeof SharedWorker === "function") {
      const worker = new SharedWorker("/stream-worker.js", { name: "sandboxer-team-stream" });
      const port = worker.port;
      port.onmessage = (m: MessageEvent<{ kind: string; up?: boolean; type?: StreamEventType; data?: string }>) => {
        if (m.data.kind === "status") this.setUp(Boolean(m.data.up));
        else if (m.data.kind === "event" && m.data.type && m.data.data !== undefined) this.dispatch(m.data.type, m.data.data);
      };
      port.start();
      port.postMessage({ kind: "hello", since: Math.floor(performance.timeOrigin), after: this.after });
      window.addEventListener("pagehide", () => port.postMessage({ kind: "bye" }));
      return;
    }
    this.ownSource();
  }

  /** Without SharedWorker: this tab's own EventSource (the browser resumes it with Last-Event-ID). */
  private ownSource(): void {
    // The first connect replays from the page's render; the browser's own reconnects send Last-Event-ID.
    const source = new EventSource(`/api/v1/events${this.after !== null ? `?after=${this.after}` : ""}`);
    this.after = null;
    for (const type of ["log", "state", "sandbox", "team", "pool", "ready", "reset"] as const) {
      source.addEventListener(type, (e) => this.dispatch(type, (e as MessageEvent<string>).data));
    }
    source.onerror = () => {
      this.setUp(false);
      if (source.readyState === EventSource.CLOSED) setTimeout(() => this.ownSource(), 10_000);
    };
  }

  private dispatch(type: StreamEventType, raw: string): void {
    let data: unknown;
    try {
      data = JSON.parse(raw);
    } catch {
      return;
    }
    if (type === "ready") this.setUp(true);
    const frame = { type, data } as StreamFrame;
    if (frame.type === "log" || frame.type === "state" || frame.type === "team") this.lastId = frame.data.id;
    if (frame.type !== "ready" && frame.type !== "reset") {
      this.recent.push({ id: this.lastId, frame });
      if (this.recent.length > RECENT_MAX) this.recent.shift();
    }
    for (const l of this.listeners) l(frame);
  }

  private setUp(up: boolean): void {
    if (this.up === up) return;
    this.up = up;
    for (const l of this.statusListeners) l();
  }

  subscribe(fn: Listener): () => void {
    this.start();
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  onStatus(fn: () => void): () => void {
    this.start();
    this.statusListeners.add(fn);
    return () => this.statusListeners.delete(fn);
  }
}

let client: TeamStreamClient | null = null;

/** This tab's connection to the team stream (started on first use). */
export function teamStream(): TeamStreamClient {
  client ??= new TeamStreamClient();
  return client;
}

/** Whether the team stream is live (false during server rendering and while reconnecting). */
export function useTeamStreamUp(): boolean {
  return useSyncExternalStore(
    (fn) => teamStream().onStatus(fn),
    () => teamStream().up,
    () => false,
  );
}

/** Calls `fn` with every frame of the stream (the latest `fn`; no resubscribe on each render). */
export function useTeamEvent(fn: (frame: StreamFrame) => void): void {
  const ref = useRef(fn);
  useEffect(() => {
    ref.current = fn;
  });
  useEffect(() => teamStream().subscribe((f) => ref.current(f)), []);
}

/** Calls `fn` with the payload of every notice on `topic` (lib/manager/team-events.ts lists them). */
export function useTeamTopic<T extends TeamTopic>(topic: T, fn: (data: TeamTopics[T]) => void): void {
  useTeamEvent((f) => {
    if (f.type === "team" && f.data.topic === topic) fn(f.data.data as TeamTopics[T]);
  });
}
