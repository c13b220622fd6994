// scripts/runtime-addons.cjs with this machine's node: ssh2's fixed binding path gets the file
// SANDBOXER_SSH2_BINDING names (here better-sqlite3's real addon stands in for a runtime build), and
// any other addon loads as asked.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

const base = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-runtime-addons-"));
const hook = path.join(import.meta.dirname, "runtime-addons.cjs");
const realAddon = path.join(import.meta.dirname, "..", "node_modules", "better-sqlite3", "build", "Release", "better_sqlite3.node");
// Where ssh2 looks, and another addon path; both hold bytes no dlopen accepts.
const ssh2Path = path.join(base, "node_modules", "ssh2", "lib", "protocol", "crypto", "build", "Release", "sshcrypto.node");
const otherPath = path.join(base, "node_modules", "other", "build", "Release", "sshcrypto.node");
for (const p of [ssh2Path, otherPath]) {
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, "not an ELF file\n");
}

function load(file: string, env: Record<string, string>): string {
  const r = spawnSync(
    process.execPath,
    ["--require", hook, "-e", "try { console.log(typeof require(process.argv[1]).Database) } catch (e) { console.log(e.message) }", file],
    { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env } as Record<string, string> as NodeJS.ProcessEnv, encoding: "utf8" },
  );
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trim();
}

afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

describe("scripts/runtime-addons.cjs", () => {
  it("hands ssh2 the binding SANDBOXER_SSH2_BINDING names, in place of the one in its package", () => {
    expect(load(ssh2Path, { SANDBOXER_SSH2_BINDING: realAddon })).toBe("function");
  });

  it("changes nothing without SANDBOXER_SSH2_BINDING, nor for another addon", () => {
    expect(load(ssh2Path, {})).toMatch(/invalid ELF header|file too short/);
    expect(load(otherPath, { SANDBOXER_SSH2_BINDING: realAddon })).toMatch(/invalid ELF header|file too short/);
  });
});
