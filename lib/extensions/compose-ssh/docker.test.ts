// The label listings' shell, run by a real sh with a stand-in `docker` on the PATH: the three
// listings at once, and the one-after-another fallback when there is no temporary directory or a
// listing fails (its status is the script's).
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { LIST_RESOURCES, REMOVE_BY_LABEL } from "./docker";

let dir: string;
let bin: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-docker-sh-"));
  bin = path.join(dir, "bin");
  fs.mkdirSync(bin);
  // Answers from files named after the listing; FAIL_<what>=<status> makes that listing fail. Every
  // call is logged (one line each) so a test can tell the parallel pass from the fallback.
  fs.writeFileSync(
    path.join(bin, "docker"),
    `#!/bin/sh
echo "$*" >> "$SBX_LOG"
case "$1 $2" in
  "ps -a") what=ps ;;
  "network ls") what=network ;;
  "volume ls") what=volume ;;
  "rm -f") echo removed; exit 0 ;;
  "network rm"|"volume rm") exit 0 ;;
  *) echo "unexpected: $*" >&2; exit 99 ;;
esac
eval "code=\\\${FAIL_$what:-0}"
if [ "$code" != 0 ]; then echo "cannot list $what" >&2; exit "$code"; fi
cat "$SBX_STATE/$what" 2>/dev/null
# CUT_<what>=1: the first such listing's marker never gets written (its subshell dies after it).
eval "cut=\\\${CUT_$what:-}"
if [ -n "$cut" ] && [ ! -e "$SBX_STATE/cut-$what" ]; then : > "$SBX_STATE/cut-$what"; kill -9 $PPID; fi
exit 0
`,
    { mode: 0o755 },
  );
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function runScript(script: string, state: { ps?: string; network?: string; volume?: string }, env: Record<string, string> = {}) {
  const run = fs.mkdtempSync(path.join(dir, "run-"));
  const stateDir = path.join(run, "state");
  fs.mkdirSync(stateDir);
  for (const [k, v] of Object.entries(state)) fs.writeFileSync(path.join(stateDir, k), v);
  const log = path.join(run, "calls");
  fs.writeFileSync(log, "");
  const r = spawnSync("sh", ["-c", script, "sh", "sbx-abc"], {
    env: { NODE_ENV: "test", PATH: `${bin}:/usr/bin:/bin`, SBX_STATE: stateDir, SBX_LOG: log, TMPDIR: run, ...env },
    encoding: "utf8",
  });
  const calls = fs.readFileSync(log, "utf8").split("\n").filter(Boolean);
  const leftovers = fs.readdirSync(run).filter((f) => f.startsWith("tmp."));
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, calls, leftovers };
}

describe("LIST_RESOURCES", () => {
  it("lists all three at once and leaves no temporary directory", () => {
    const r = runScript(LIST_RESOURCES, { ps: "c1\nc2\n", network: "n1\n", volume: "" });
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout).toBe("container c1\ncontainer c2\nnetwork n1\n");
    expect(r.calls).toHaveLength(3);
    expect(r.leftovers).toEqual([]);
  });

  it("without a temporary directory it lists one after the other", () => {
    const r = runScript(LIST_RESOURCES, { ps: "c1\n", volume: "v1\n" }, { TMPDIR: path.join(dir, "no-such-dir") });
    expect(r).toMatchObject({ code: 0, stdout: "container c1\nvolume v1\n" });
    expect(r.calls).toHaveLength(3);
  });

  it("a failing listing: retried one after the other, and the script fails with its status and message", () => {
    const r = runScript(LIST_RESOURCES, { ps: "c1\n" }, { FAIL_network: "3" });
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("cannot list network\n");
    // Three at once, then ps and network again (volume not reached).
    expect(r.calls).toHaveLength(5);
    expect(r.leftovers).toEqual([]);
  });

  it("a listing whose file lacks its end marker (cut short): all three listed again one after the other", () => {
    const r = runScript(LIST_RESOURCES, { ps: "c1\n", network: "n1\n" }, { CUT_network: "1" });
    expect(r).toMatchObject({ code: 0, stdout: "container c1\nnetwork n1\n" });
    expect(r.calls).toHaveLength(6);
  });

  it("no docker at all: 127", () => {
    // A PATH with the shell's tools and no docker.
    const tools = path.join(dir, "no-docker");
    fs.mkdirSync(tools, { recursive: true });
    for (const t of ["mktemp", "cat", "rm"]) {
      const where = execFileSync("sh", ["-c", 'command -v "$1"', "sh", t], { encoding: "utf8" }).trim();
      if (!fs.existsSync(path.join(tools, t))) fs.symlinkSync(where, path.join(tools, t));
    }
    const r = spawnSync("/bin/sh", ["-c", LIST_RESOURCES, "sh", "sbx-abc"], { env: { NODE_ENV: "test", PATH: tools }, encoding: "utf8" });
    expect(r.status).toBe(127);
    expect(r.stdout).toBe("");
  });
});

describe("REMOVE_BY_LABEL", () => {
  it("removes containers, then networks, then volumes after listing them at once", () => {
    const r = runScript(REMOVE_BY_LABEL, { ps: "c1\n", network: "n1\n", volume: "v1\n" });
    // The stand-in keeps them (its removals change nothing), so the script reports what is left.
    expect(r.code).toBe(75);
    expect(r.stdout).toBe("removed container c1\nremoved network n1\nremoved volume v1\n");
    const removals = r.calls.filter((c) => / rm\b|^rm /.test(c));
    expect(removals).toEqual(["rm -f -v c1", "network rm n1", "volume rm -f v1"]);
  });

  it("nothing labelled: three listings and done", () => {
    const r = runScript(REMOVE_BY_LABEL, {});
    expect(r).toMatchObject({ code: 0, stdout: "", stderr: "" });
    expect(r.calls).toHaveLength(3);
  });
});

it("the scripts are POSIX sh (dash parses them)", () => {
  for (const script of [LIST_RESOURCES, REMOVE_BY_LABEL]) execFileSync("sh", ["-n", "-c", script]);
});
