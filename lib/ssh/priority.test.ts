import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";

import { afterEach, describe, expect, it } from "vitest";

import { lowerPriority, TRANSFER_NICENESS } from "./ssh-options";

const autogroup = (pid: number | "self") => {
  try {
    return fs.readFileSync(`/proc/${pid}/autogroup`, "utf8").trim();
  } catch {
    return null;
  }
};
// The file is empty when this process's task group is not an autogroup (a CPU cgroup of its own, as
// under some CI runners): then lowerPriority sets the niceness only, which the first test checks.
const hasAutogroup = /nice -?\d+/.test(autogroup("self") ?? "");

describe("lowerPriority (transfers run below the server)", () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill("SIGKILL");
  });
  const start = (detached: boolean) => {
    const child = spawn("sleep", ["30"], { detached, stdio: "ignore" });
    children.push(child);
    return child.pid!;
  };

  it("renices the child by TRANSFER_NICENESS", () => {
    const pid = start(false);
    lowerPriority(pid);
    expect(os.getPriority(pid)).toBe(Math.min(19, os.getPriority() + TRANSFER_NICENESS));
  });

  it.runIf(hasAutogroup)("gives a detached child's own session the niceness too (autogroup), and never touches this process's", () => {
    const own = autogroup("self");
    const detached = start(true);
    expect(autogroup(detached)).not.toBe(own); // a session of its own
    lowerPriority(detached);
    const nice = Number(/nice (-?\d+)/.exec(own!)![1]);
    expect(autogroup(detached)).toMatch(new RegExp(`nice ${Math.min(19, nice + TRANSFER_NICENESS)}$`));

    const attached = start(false);
    lowerPriority(attached);
    expect(autogroup(attached)).toBe(own);
    expect(autogroup("self")).toBe(own);
  });

  it("does nothing for a child that is gone", () => {
    expect(() => lowerPriority(2 ** 22 + 12345)).not.toThrow();
  });
});
