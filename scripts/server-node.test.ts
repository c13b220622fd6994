// scripts/server-node.sh in a checkout of its own, with stand-in Node binaries that print who they are:
// which Node a server is started on, and the SQLite addon it is told to load.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-server-node-"));
const runtime = path.join(root, "node_modules", ".sandboxer-runtime");
const machineBin = path.join(root, "machine-bin");

function standIn(file: string, name: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(
    file,
    `#!/bin/sh\necho "${name} $* binding=\${SANDBOXER_SQLITE_BINDING:-none} ssh2=\${SANDBOXER_SSH2_BINDING:-none}"\n`,
    {
      mode: 0o755,
    },
  );
}

function setUp(opts: { builtFor?: string; release?: string; ssh2For?: string } = {}): void {
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(path.join(root, "scripts"), { recursive: true });
  for (const script of ["server-node.sh", "server-runtime.sh"]) {
    fs.copyFileSync(path.join(import.meta.dirname, script), path.join(root, "scripts", script));
    fs.chmodSync(path.join(root, "scripts", script), 0o755);
  }
  fs.writeFileSync(path.join(root, ".node-recommended"), "24.22.3\n");
  fs.mkdirSync(path.join(root, "node_modules", "better-sqlite3"), { recursive: true });
  fs.writeFileSync(
    path.join(root, "node_modules", "better-sqlite3", "package.json"),
    '{\n  "name": "better-sqlite3",\n  "version": "12.11.1",\n  "x": { "version": "0" }\n}\n',
  );
  fs.mkdirSync(path.join(root, "node_modules", "ssh2"), { recursive: true });
  fs.writeFileSync(path.join(root, "node_modules", "ssh2", "package.json"), '{\n  "name": "ssh2",\n  "version": "1.17.0"\n}\n');
  standIn(path.join(machineBin, "node"), "machine-node");
  if (opts.builtFor === undefined) return;
  standIn(path.join(runtime, "node", "bin", "node"), "runtime-node");
  fs.writeFileSync(path.join(runtime, "better_sqlite3.node"), "");
  if (opts.ssh2For) fs.writeFileSync(path.join(runtime, "sshcrypto.node"), "");
  fs.writeFileSync(
    path.join(runtime, "ready.json"),
    `${JSON.stringify({
      node: opts.release ?? "24.22.3",
      betterSqlite3: opts.builtFor,
      ...(opts.ssh2For ? { ssh2: opts.ssh2For, ssh2Crypto: true } : {}),
      builtAt: "2026-12-05T00:00:00.000Z",
    })}\n`,
  );
}

function run(env: Record<string, string> = {}): { stdout: string; stderr: string } {
  const out = path.join(root, "stderr");
  const stdout = execFileSync(path.join(root, "scripts", "server-node.sh"), ["--max-semi-space-size=8", "server.mjs"], {
    env: {
      PATH: `${machineBin}:/usr/bin:/bin`,
      SANDBOXER_SQLITE_BINDING: "/stale/from/the/caller.node",
      SANDBOXER_SSH2_BINDING: "/stale/too.node",
      ...env,
    } as Record<string, string> as NodeJS.ProcessEnv,
    encoding: "utf8",
    stdio: ["ignore", "pipe", fs.openSync(out, "w")],
  });
  return { stdout: stdout.trim(), stderr: fs.readFileSync(out, "utf8").trim() };
}

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe("scripts/server-node.sh", () => {
  it("runs the server on the runtime npm ci set up, with the addon built for it, and passes the arguments on", () => {
    setUp({ builtFor: "12.11.1" });
    expect(run()).toEqual({
      stdout: `runtime-node --max-semi-space-size=8 server.mjs binding=${path.join(runtime, "better_sqlite3.node")} ssh2=none`,
      stderr: "",
    });
  });

  it("runs it on the machine's node when there is no runtime, or when SANDBOXER_RUNTIME=system — and never passes on a caller's addon", () => {
    setUp();
    expect(run()).toEqual({ stdout: "machine-node --max-semi-space-size=8 server.mjs binding=none ssh2=none", stderr: "" });
    setUp({ builtFor: "12.11.1" });
    expect(run({ SANDBOXER_RUNTIME: "system" }).stdout).toBe("machine-node --max-semi-space-size=8 server.mjs binding=none ssh2=none");
  });

  it("says why at each start when the install could not set the runtime up", () => {
    setUp();
    fs.writeFileSync(`${runtime}.failed`, "Node 24.22.3 could not be set up — npm pack failed\n");
    expect(run()).toEqual({
      stdout: "machine-node --max-semi-space-size=8 server.mjs binding=none ssh2=none",
      stderr: "server-node.sh: running on the machine's Node: at install, Node 24.22.3 could not be set up — npm pack failed",
    });
    expect(run({ SANDBOXER_RUNTIME: "system" }).stderr).toBe("");
  });

  it("falls back to the machine's node, and says why, when the runtime's addon is for another better-sqlite3", () => {
    setUp({ builtFor: "12.9.0" });
    const r = run();
    expect(r.stdout).toBe("machine-node --max-semi-space-size=8 server.mjs binding=none ssh2=none");
    expect(r.stderr).toBe(
      "server-node.sh: the server runtime's SQLite addon is for better-sqlite3 12.9.0, 12.11.1 is installed: running on the machine's Node; npm ci sets it up again",
    );
  });

  it("keeps a runtime of another release than .node-recommended, and says so", () => {
    setUp({ builtFor: "12.11.1", release: "24.20.0" });
    const r = run();
    expect(r.stdout).toMatch(/^runtime-node /);
    expect(r.stderr).toBe("server-node.sh: running on Node 24.20.0; .node-recommended asks for 24.22.3: npm ci sets it up");
  });

  it("preloads the hook that hands ssh2 the runtime's crypto binding, when there is one for the installed ssh2", () => {
    setUp({ builtFor: "12.11.1", ssh2For: "1.17.0" });
    expect(run()).toEqual({
      stdout: `runtime-node --require ${path.join(root, "scripts", "runtime-addons.cjs")} --max-semi-space-size=8 server.mjs binding=${path.join(runtime, "better_sqlite3.node")} ssh2=${path.join(runtime, "sshcrypto.node")}`,
      stderr: "",
    });
    // Built for another ssh2: not handed over (ssh2 uses Node's crypto), the rest as before.
    setUp({ builtFor: "12.11.1", ssh2For: "1.16.0" });
    expect(run().stdout).toBe(
      `runtime-node --max-semi-space-size=8 server.mjs binding=${path.join(runtime, "better_sqlite3.node")} ssh2=none`,
    );
  });
});
