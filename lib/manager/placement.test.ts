import { describe, expect, it } from "vitest";

import { placementReason, rankHosts, type PlacementCandidate } from "./placement";

const GiB = 2 ** 30;

function host(id: string, over: Partial<PlacementCandidate> = {}): PlacementCandidate {
  return {
    id,
    title: id,
    health: "healthy",
    cordoned: false,
    cordonReason: null,
    capacity: 10,
    sandboxes: 0,
    freeBytes: 100 * GiB,
    loadAverage: 0.1,
    cpuCount: 4,
    placedSinceCheck: 0,
    freeMemoryBytes: 8 * GiB,
    imageMismatch: null,
    healthText: "",
    ...over,
  };
}

const order = (cs: PlacementCandidate[], minFreeBytes = 0) => rankHosts(cs, { minFreeBytes }).ranked.map((r) => r.candidate.id);

describe("placement", () => {
  it("prefers free disk first", () => {
    expect(order([host("a", { freeBytes: 20 * GiB, loadAverage: 0 }), host("b", { freeBytes: 80 * GiB, loadAverage: 3 })])).toEqual([
      "b",
      "a",
    ]);
  });

  it("with about the same free disk, prefers the lower load per CPU", () => {
    const a = host("a", { freeBytes: 100 * GiB, loadAverage: 3.5, cpuCount: 4 });
    const b = host("b", { freeBytes: 101 * GiB, loadAverage: 1.0, cpuCount: 4 });
    const c = host("c", { freeBytes: 99 * GiB, loadAverage: 3.5, cpuCount: 16 });
    expect(order([a, b, c])).toEqual(["c", "b", "a"]);
  });

  it("two hosts 1 MiB apart are a tie on disk wherever a step boundary falls (a burst reaches both)", () => {
    // Steps counted from a fixed origin put these two in different steps (2^36.5 bytes is a boundary of
    // quarter powers of two), and every create of a burst went to the one above it, whatever the load.
    const boundary = 2 ** 36.5;
    const MiB = 2 ** 20;
    const hosts = [
      host("above", { freeBytes: boundary + MiB, loadAverage: 0.6, cpuCount: 2 }),
      host("below", { freeBytes: boundary - MiB, loadAverage: 0.6, cpuCount: 2 }),
    ];
    const picks = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const first = rankHosts(hosts, { minFreeBytes: 0 }).ranked[0]!.candidate;
      picks.add(first.id);
      hosts.find((c) => c.id === first.id)!.placedSinceCheck++;
    }
    expect([...picks].sort()).toEqual(["above", "below"]);
    // Still a step apart when one has 19 % less than the other, the boundary aside.
    expect(order([host("a", { freeBytes: 80 * GiB, loadAverage: 0 }), host("b", { freeBytes: 100 * GiB, loadAverage: 3 })])).toEqual([
      "b",
      "a",
    ]);
    // The same for available memory.
    expect(
      order([host("a", { freeMemoryBytes: boundary + MiB, sandboxes: 3 }), host("b", { freeMemoryBytes: boundary - MiB, sandboxes: 1 })]),
    ).toEqual(["b", "a"]);
  });

  it("a host whose load was never measured ranks after measured idle ones and before busy ones", () => {
    expect(
      order([host("busy", { loadAverage: 8, cpuCount: 4 }), host("unknown", { loadAverage: null }), host("idle", { loadAverage: 0.2 })]),
    ).toEqual(["idle", "unknown", "busy"]);
  });

  it("counts the sandboxes placed since a host's load was measured: a burst alternates instead of piling onto the idlest", () => {
    // Two 2-CPU hosts, b measured a little busier. Picking one at a time, each pick adding to the chosen
    // host's count, as lib/manager/host-picker.ts does for a burst.
    const hosts = [host("a", { loadAverage: 0.6, cpuCount: 2 }), host("b", { loadAverage: 1.1, cpuCount: 2 })];
    const picks: string[] = [];
    for (let i = 0; i < 8; i++) {
      const first = rankHosts(hosts, { minFreeBytes: 0 }).ranked[0]!.candidate;
      picks.push(first.id);
      const h = hosts.find((c) => c.id === first.id)!;
      h.placedSinceCheck++;
      h.sandboxes++;
    }
    expect(picks).toEqual(["a", "b", "a", "b", "a", "b", "a", "b"]);
    // Without the count, every pick is a.
    expect(order([host("a", { loadAverage: 0.6, cpuCount: 2, sandboxes: 7 }), host("b", { loadAverage: 1.1, cpuCount: 2 })])).toEqual([
      "a",
      "b",
    ]);
    // A never-measured host with picks since ranks by them too (0.25 per CPU plus each pick).
    expect(order([host("unknown", { loadAverage: null, placedSinceCheck: 3 }), host("busy", { loadAverage: 3, cpuCount: 4 })])).toEqual([
      "busy",
      "unknown",
    ]);
    expect(rankHosts([host("a", { placedSinceCheck: 2 })], { minFreeBytes: 0 }).ranked[0]!.why).toMatch(/2 placed since checked/);
  });

  it("then available memory, then the share of capacity used", () => {
    expect(order([host("a", { freeMemoryBytes: 1 * GiB }), host("b", { freeMemoryBytes: 6 * GiB })])).toEqual(["b", "a"]);
    expect(order([host("a", { sandboxes: 5 }), host("b", { sandboxes: 2 }), host("c", { sandboxes: 2, capacity: 3 })])).toEqual([
      "b",
      "a",
      "c",
    ]);
  });

  it("rules out unhealthy, cordoned, being-moved, mismatched, below-the-floor and full hosts, each with its reason", () => {
    const r = rankHosts(
      [
        host("down", { health: "unreachable", healthText: "unreachable (refused)" }),
        host("cord", { cordoned: true, cordonReason: "kernel update" }),
        host("moving", { editing: true }),
        host("img", { imageMismatch: "runs haskell 3, the profile needs haskell 4" }),
        host("tiny", { freeBytes: 512 * 2 ** 20 }),
        host("full", { sandboxes: 10 }),
        host("ok"),
      ],
      { minFreeBytes: GiB },
    );
    expect(r.ranked.map((x) => x.candidate.id)).toEqual(["ok"]);
    expect(r.refused.map((x) => [x.kind, x.reason])).toEqual([
      ["health", "down: unreachable (refused)"],
      ["cordoned", "cord: cordoned (kernel update)"],
      ["editing", "moving: an admin is changing where it is reached"],
      ["image", "img: runs haskell 3, the profile needs haskell 4"],
      ["disk", "tiny: 512 MiB free, below the floor of 1.0 GiB (SANDBOXER_HOST_MIN_FREE_MB)"],
      ["full", "full has 10/10 sandboxes"],
    ]);
    expect(placementReason(r.ranked[0]!, r)).toMatch(
      /^Placed on ok \(100\.0 GiB free, load 0\.10 on 4 CPUs.*not eligible: down: unreachable/,
    );
  });

  it("a host not yet checked (no free-space figure) is eligible but ranks last", () => {
    expect(order([host("new", { freeBytes: null }), host("old", { freeBytes: 2 * GiB })], GiB)).toEqual(["old", "new"]);
  });
});
