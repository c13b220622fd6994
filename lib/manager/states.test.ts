import { describe, expect, it } from "vitest";

import { ConflictError } from "../errors";
import { SANDBOX_STATUSES, assertTransition, canTransition, expiryMeaning, isTransient, type SandboxStatus } from "./states";

describe("the sandbox state machine", () => {
  const legal: [SandboxStatus, SandboxStatus][] = [
    ["queued", "creating"],
    ["creating", "ready"],
    ["creating", "failed"],
    ["queued", "destroying"],
    ["creating", "destroying"],
    ["ready", "destroying"],
    ["failed", "destroying"],
    ["destroying", "destroyed"],
    ["destroying", "destroy_failed"],
    ["destroy_failed", "destroying"],
    ["creating", "pooled"],
    ["pooled", "ready"],
    ["pooled", "creating"],
    ["pooled", "missing"],
  ];

  it.each(legal)("allows %s → %s", (from, to) => {
    expect(canTransition(from, to)).toBe(true);
    expect(() => assertTransition(from, to)).not.toThrow();
  });

  it("refuses every move out of destroyed", () => {
    for (const to of SANDBOX_STATUSES) expect(canTransition("destroyed", to)).toBe(false);
  });

  it.each([
    ["queued", "ready"],
    ["ready", "creating"],
    ["failed", "ready"],
    ["destroying", "ready"],
    ["destroy_failed", "ready"],
    ["ready", "destroyed"],
    ["ready", "pooled"],
    ["queued", "pooled"],
    ["missing", "pooled"],
  ] as [SandboxStatus, SandboxStatus][])("refuses %s → %s with a ConflictError naming both", (from, to) => {
    expect(() => assertTransition(from, to)).toThrow(ConflictError);
    expect(() => assertTransition(from, to)).toThrow(`from ${from} to ${to}`);
  });

  it("lets every non-final state be destroyed", () => {
    for (const s of SANDBOX_STATUSES) {
      if (s === "destroyed" || s === "destroying") continue;
      expect(canTransition(s, "destroying"), s).toBe(true);
    }
  });

  it("knows which states are in flight", () => {
    expect(SANDBOX_STATUSES.filter(isTransient)).toEqual(["queued", "creating", "destroying"]);
  });
});

describe("expiryMeaning", () => {
  it("shows an end for live sandboxes, a clean-up for failed and missing ones, nothing once destroy owns it", () => {
    expect(Object.fromEntries(SANDBOX_STATUSES.map((s) => [s, expiryMeaning(s)]))).toEqual({
      queued: "ends",
      creating: "ends",
      ready: "ends",
      pooled: "ends",
      failed: "cleanup",
      missing: "cleanup",
      destroying: null,
      destroyed: null,
      destroy_failed: null,
    });
  });
});
