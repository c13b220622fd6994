import { describe, expect, it } from "vitest";

import type { HostView, SandboxDetailView, SandboxListView, SandboxView } from "@/lib/manager/views";

import { applyEventToLog, applyEventToTimeline, applyHostToList, applySandboxToDetail, applySandboxToList, listWants } from "./live-cache";

const view = (id: string, status: SandboxView["status"], updatedAt = "2026-01-01T00:00:01.000Z", owner = "u1"): SandboxView => ({
  id,
  owner: { id: owner, name: owner, email: `${owner}@x.test` },
  profileId: "profile.local",
  profileTitle: "Local",
  extensionId: "ext.local",
  host: null,
  status,
  statusReason: null,
  createdAt: "2026-01-01T00:00:00.000Z",
  updatedAt,
  readyAt: null,
  destroyedAt: null,
  expiresAt: null,
  maxExpiresAt: null,
  handle: null,
});

const list = (rows: SandboxView[], counts: SandboxListView["counts"] = {}): SandboxListView => ({
  rows,
  total: rows.length,
  page: 1,
  pageSize: 2,
  pages: 1,
  counts,
});

describe("live cache", () => {
  it("replaces a shown row and moves its count; applying it twice changes nothing", () => {
    const l = list([view("a", "ready")], { ready: 1 });
    const once = applySandboxToList(l, {}, view("a", "destroying", "2026-01-01T00:00:02.000Z"), "u1");
    expect(once.rows[0]!.status).toBe("destroying");
    expect(once.counts).toEqual({ ready: 0, destroying: 1 });
    expect(applySandboxToList(once, {}, view("a", "destroying", "2026-01-01T00:00:02.000Z"), "u1").counts).toEqual(once.counts);
  });

  it("ignores a snapshot older than the row shown (a late action result after the stream's destroyed)", () => {
    const l = list([view("a", "destroyed", "2026-01-01T00:00:05.000Z")], { destroyed: 1 });
    expect(applySandboxToList(l, {}, view("a", "destroying", "2026-01-01T00:00:02.000Z"), "u1")).toBe(l);
  });

  it("adds a new sandbox on top of first pages whose filters it matches, trimmed to the page size", () => {
    const l = list([view("a", "ready"), view("b", "ready")], { ready: 2 });
    const next = applySandboxToList(l, {}, view("c", "queued"), "u1");
    expect(next.rows.map((r) => r.id)).toEqual(["c", "a"]);
    expect(next.total).toBe(3);
    expect(next.pages).toBe(2);
    expect(next.counts).toEqual({ ready: 2, queued: 1 });
    expect(applySandboxToList(l, { page: "2" }, view("c", "queued"), "u1")).toBe(l);
    expect(applySandboxToList(l, { status: "ready" }, view("c", "queued"), "u1")).toBe(l);
    expect(applySandboxToList(l, { mine: "1" }, view("c", "queued", undefined, "u2"), "u1")).toBe(l);
    expect(applySandboxToList(l, { owner: "me" }, view("c", "queued"), "u1")).not.toBe(l);
    expect(applySandboxToList(l, { profile: "profile.other" }, view("c", "queued"), "u1")).toBe(l);
  });

  it("the default list takes every status but destroyed", () => {
    expect(listWants({}, view("x", "destroyed"), "u1")).toBe(false);
    expect(listWants({ recent: "1" }, view("x", "destroyed"), "u1")).toBe(true);
    expect(listWants({}, view("x", "pooled"), "u1")).toBe(false);
    expect(listWants({ status: "destroyed,failed" }, view("x", "destroyed"), "u1")).toBe(true);
    expect(listWants({ q: "x" }, view("x", "ready"), "u1")).toBe(false);
  });

  it("the detail takes the snapshot, keeps what only it has, and appends state events to its timeline once", () => {
    const d: SandboxDetailView = {
      ...view("a", "queued"),
      input: { ref: "main" },
      timeline: [],
      queue: { position: 1, reason: "busy" },
      extendableMs: 0,
      stuck: { reason: "no worker", since: null },
    };
    const next = applySandboxToDetail(d, view("a", "creating", "2026-01-01T00:00:02.000Z"));
    expect(next.status).toBe("creating");
    expect(next.input).toEqual({ ref: "main" });
    expect(next.queue).toBeNull();
    // A moving sandbox is no longer stuck; the next read says again if it is.
    expect(next.stuck).toBeNull();
    const e = {
      sandboxId: "a",
      id: 7,
      type: "state" as const,
      level: "info",
      message: "→ creating",
      at: "2026-01-01T00:00:02.000Z",
      status: "creating",
    };
    const t = applyEventToTimeline(next, e);
    expect(t.timeline.map((x) => x.status)).toEqual(["creating"]);
    expect(applyEventToTimeline(t, e)).toBe(t);
  });

  it("the log appends in id order and never twice", () => {
    const ev = (id: number) => ({
      sandboxId: "a",
      id,
      type: "log" as const,
      level: "info",
      message: `line ${id}`,
      at: "2026-01-01T00:00:00.000Z",
    });
    let log = applyEventToLog([], ev(2));
    log = applyEventToLog(log, ev(3));
    log = applyEventToLog(log, ev(1));
    log = applyEventToLog(log, ev(3));
    expect(log.map((e) => e.id)).toEqual([1, 2, 3]);
  });
});

describe("applyHostToList", () => {
  const host = (id: string, cordoned = false) => ({ id, title: id, cordoned }) as HostView;
  const hosts = [host("a"), host("c")];

  it("replaces the host, adds a new one in id order, removes one given null", () => {
    expect(applyHostToList(hosts, "c", host("c", true)).map((h) => [h.id, h.cordoned])).toEqual([
      ["a", false],
      ["c", true],
    ]);
    expect(applyHostToList(hosts, "b", host("b")).map((h) => h.id)).toEqual(["a", "b", "c"]);
    expect(applyHostToList(hosts, "a", null).map((h) => h.id)).toEqual(["c"]);
  });

  it("returns the same list when a removed host was not in it", () => {
    expect(applyHostToList(hosts, "zz", null)).toBe(hosts);
  });
});
