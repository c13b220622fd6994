import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { ownedTempPrefix, sweepDeadTempDirs } from "./temp-dirs";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe("the SSH layer's temp directories", () => {
  it("are named after the owning process, short enough for a control socket", () => {
    const made = fs.mkdtempSync(ownedTempPrefix("mux"));
    dirs.push(made);
    expect(path.basename(made)).toMatch(new RegExp(`^sbx-mux-${process.pid}-[A-Za-z0-9]{6}$`));
    expect(path.join(made, "s").length).toBeLessThan(100);
  });

  it("of a dead process are swept at start; a live one's, this one's and others' files are kept", async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sweep-test-"));
    dirs.push(tmp);
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString();
    const make = (name: string) => {
      fs.mkdirSync(path.join(tmp, name));
      fs.writeFileSync(path.join(tmp, name, "known_hosts"), "x");
      return path.join(tmp, name);
    };
    const deadMux = make(`sbx-mux-${dead}-aB3dE9`);
    const deadRsync = make(`sbx-rsync-${dead}-Zz0000`);
    const liveParent = make(`sbx-mux-${process.ppid}-qwerty`);
    const mine = make(`sbx-rsync-${process.pid}-abcdef`);
    const untagged = make("sbx-mux-abcdef"); // an older version's: owner unknown, kept
    const other = make(`not-ours-${dead}-abcdef`);
    const removed = await sweepDeadTempDirs(tmp);
    expect(removed.sort()).toEqual([deadMux, deadRsync].sort());
    for (const kept of [liveParent, mine, untagged, other]) expect(fs.existsSync(kept), kept).toBe(true);
    expect(fs.existsSync(deadMux)).toBe(false);
  });
});
