import { describe, expect, it } from "vitest";

import { dispatchWake, processApplicationName } from "./wake";

describe("dispatchWake", () => {
  const record = () => {
    const calls: string[] = [];
    return {
      calls,
      notifier: {
        operationQueued: () => calls.push("operation"),
        teamEvent: () => calls.push("team"),
        sandboxChanged: (id: string) => calls.push(`sandbox ${id}`),
        cancelRequested: (id: string) => calls.push(`cancel ${id}`),
      },
    };
  };

  it("passes another process's wake-ups to the notifier", () => {
    const { calls, notifier } = record();
    const self = processApplicationName(1);
    expect(dispatchWake("sandboxer/2 o", self, notifier)).toBe(true);
    expect(dispatchWake("sandboxer/2 t", self, notifier)).toBe(true);
    expect(dispatchWake("sandboxer/2 s sbx_abc", self, notifier)).toBe(true);
    // A writer without an application_name (psql, a script) is "-": still someone else.
    expect(dispatchWake("- s sbx_def", self, notifier)).toBe(true);
    expect(dispatchWake("sandboxer/2 c op_123", self, notifier)).toBe(true);
    expect(calls).toEqual(["operation", "team", "sandbox sbx_abc", "sandbox sbx_def", "cancel op_123"]);
  });

  it("skips this process's own, and anything it does not understand", () => {
    const { calls, notifier } = record();
    const self = processApplicationName(1);
    for (const payload of [
      "sandboxer/1 o",
      "sandboxer/1 s sbx_abc",
      "",
      "sandboxer/2",
      "sandboxer/2 s",
      "sandboxer/2 c",
      "sandboxer/1 c op_1",
      "sandboxer/2 x y",
    ]) {
      expect(dispatchWake(payload, self, notifier)).toBe(false);
    }
    expect(calls).toEqual([]);
  });
});
