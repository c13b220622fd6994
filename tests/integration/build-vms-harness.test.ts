// The build-VM harness itself: what the tests and the bench rely on it to clean up.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { startBuildVms, stopBuildVms, type BuildVms } from "../support/build-vms";

let vms: BuildVms | null = null;
afterEach(async () => {
  if (vms) await stopBuildVms(vms);
  vms = null;
});

/** Running (a zombie waiting for its new parent to reap it has ended). */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

describe("build VMs with a low CPU share", () => {
  it("stopping them removes their control group even while a session still runs in it", async () => {
    vms = await startBuildVms({ vms: [{ name: "hv1", address: "127.0.0.1" }], lowCpuShare: true });
    const vm = vms.vms[0]!;
    const group = vm.cpuGroup!;
    expect(fs.existsSync(group)).toBe(true);
    // A session that would outlive the listening sshd: its own sshd and `sleep` stay in the group.
    const client = spawn("ssh", ["-F", vms.sshConfigPath, vm.name, "sleep", "60"], { stdio: "ignore" });
    try {
      let sessionPids: number[] = [];
      for (let i = 0; i < 100 && sessionPids.length < 2; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const procs = fs.readFileSync(path.join(group, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number);
        sessionPids = procs.filter((p) => p !== vm.pid);
      }
      // The per-connection sshd (and its privilege-separated child) and the session's sleep.
      expect(sessionPids.length).toBeGreaterThanOrEqual(2);

      await stopBuildVms(vms);
      vms = null;
      expect(fs.existsSync(group)).toBe(false);
      expect(sessionPids.filter(alive)).toEqual([]);
    } finally {
      client.kill("SIGKILL");
    }
  });
});
