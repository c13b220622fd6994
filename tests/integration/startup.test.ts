// `npm start` as a person runs it (the built app): SANDBOXER_DATA_DIR alone puts the embedded database
// there; a second `npm start` on the same data directory, or on a port already taken, stops at once
// with one clear line naming the resource and what to do (it used to wait ~11 s and die with a
// migration-engine WebAssembly error). And what it prints is JSON records only, when stdout is not a terminal.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { v8FlagsFor } from "../../lib/v8-tuning.mjs";
import { RUNTIME_DIR, installedStamp, skipReason } from "../../scripts/install-runtime.mjs";
import { REPO_ROOT, SERVER_ENV, SERVER_NODE_FLAGS, TEST_AUTH_SECRET, assertBuilt, signUp } from "../support/app-server";
import { freeLoopbackPort } from "../support/build-vms";

interface Run {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function npmStart(env: Record<string, string>): Run {
  const child = spawn("npm", ["start", "--silent"], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/root",
      NODE_ENV: "production",
      NEXT_TELEMETRY_DISABLED: "1",
      BETTER_AUTH_SECRET: TEST_AUTH_SECRET,
      LOG_LEVEL: "warn",
      // Not the default 127.0.0.1:2022: a server a person runs beside the tests holds it (tests choose free ports).
      SANDBOXER_SSH_GATEWAY: "off",
      ...(process.env.SANDBOXER_RUNTIME ? { SANDBOXER_RUNTIME: process.env.SANDBOXER_RUNTIME } : {}),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group: npm → sh → next, stopped together
  });
  let out = "";
  child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr!.on("data", (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => out, exited };
}

async function waitReady(url: string, run: Run, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (run.child.exitCode !== null) throw new Error(`npm start exited early:\n${run.output()}`);
    const ok = await fetch(`${url}/api/v1/openapi.json`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`not ready after ${timeoutMs} ms:\n${run.output()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function stop(run: Run): Promise<number | null> {
  if (run.child.exitCode === null && run.child.pid) {
    try {
      process.kill(-run.child.pid, "SIGTERM");
    } catch {
      // gone
    }
  }
  return run.exited;
}

// The Node npm start runs the server on: .node-recommended's, set up by npm ci's postinstall
// (scripts/install-runtime.mjs), when this machine's Node is an older major on Linux x64; else this one.
const recommended = fs.readFileSync(path.join(REPO_ROOT, ".node-recommended"), "utf8").trim();
const onServerRuntime =
  skipReason({
    version: recommended,
    env: process.env,
    platform: process.platform,
    arch: process.arch,
    machineVersion: process.versions.node,
  }) === null;
const serverNodeVersion = onServerRuntime ? recommended : process.versions.node;

describe("npm start: data directory and a second instance", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "sandboxer-startup-"));
  const runs: Run[] = [];

  afterAll(async () => {
    await Promise.all(runs.map(stop));
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("puts the database in SANDBOXER_DATA_DIR; a second start on that data dir or on the taken port says so in one line", async () => {
    assertBuilt();
    const dataDir = path.join(root, "data");
    const port = await freeLoopbackPort();
    const first = npmStart({ SANDBOXER_DATA_DIR: dataDir, PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "info" });
    runs.push(first);
    await waitReady(`http://127.0.0.1:${port}`, first);
    // Every line it printed is a JSON record (stdout is a pipe here): Next's own start-up banner and the
    // migration step's line too, which were free text.
    const startLines = first.output().trim().split("\n");
    const listening = startLines.filter((l) => l.includes("sand-boxer listening on")).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(listening).toHaveLength(1);
    // It says which Node runs it and, on Node 24 and later, the V8 settings that bring back Node 20's
    // reclaim of short-lived Buffers (server.mjs; without them Node 24 marks the whole heap for the
    // gateway's Buffers). The CI runs this file on Node 24 as well.
    expect(listening[0]).toMatchObject({ node: `v${serverNodeVersion}` });
    expect(listening[0]!.v8Flags).toEqual(v8FlagsFor(serverNodeVersion));
    for (const line of startLines) {
      const rec = (() => {
        try {
          return JSON.parse(line) as { level?: unknown; msg?: unknown };
        } catch {
          return null;
        }
      })();
      expect(rec, `not a JSON record: ${line}`).not.toBeNull();
      expect(typeof rec!.level, line).toBe("number");
      expect(typeof rec!.msg, line).toBe("string");
    }
    // The server watches the embedded database for other processes' commits (lib/db/sqlite-wake.ts), so
    // its worker's idle poll is only the fallback, not once a second.
    const workerStarted = startLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.msg === "worker started");
    expect(workerStarted, first.output()).toHaveLength(1);
    expect(workerStarted[0]).toMatchObject({ idlePollMs: 15_000 });
    // SANDBOXER_DATA_DIR alone (no DATABASE_URL) moved the embedded database.
    expect(fs.existsSync(path.join(dataDir, "sandboxer.db"))).toBe(true);
    const record = JSON.parse(fs.readFileSync(path.join(dataDir, "server.json"), "utf8")) as { url: string; pid: number };
    expect(record).toMatchObject({ url: `http://127.0.0.1:${port}` });
    // The server runs with the memory settings npm start gives it — the same the tests and the
    // benchmark start it with (SERVER_NODE_FLAGS, SERVER_ENV).
    const argv = fs.readFileSync(`/proc/${record.pid}/cmdline`, "utf8").split("\0");
    // On the runtime, after the preload that hands ssh2 the crypto binding built for it (scripts/server-node.sh).
    const preload = onServerRuntime ? ["--require", path.join(REPO_ROOT, "scripts", "runtime-addons.cjs")] : [];
    expect(argv.slice(1, 1 + preload.length + SERVER_NODE_FLAGS.length)).toEqual([...preload, ...SERVER_NODE_FLAGS]);
    const environ = fs.readFileSync(`/proc/${record.pid}/environ`, "utf8").split("\0");
    for (const [k, v] of Object.entries(SERVER_ENV)) expect(environ).toContain(`${k}=${v}`);
    if (onServerRuntime) {
      // On the server runtime npm ci set up, with better-sqlite3's addon built for it (not the checkout's,
      // which is built for this machine's Node and would not load).
      expect(installedStamp(), "npm ci did not set up the server runtime: see its `server runtime:` line").toMatchObject({
        node: recommended,
      });
      expect(fs.readlinkSync(`/proc/${record.pid}/exe`)).toBe(path.join(RUNTIME_DIR, "node", "bin", "node"));
      const maps = fs.readFileSync(`/proc/${record.pid}/maps`, "utf8");
      expect(maps).toContain(path.join(RUNTIME_DIR, "better_sqlite3.node"));
      expect(maps).not.toContain(path.join("better-sqlite3", "build", "Release"));
      // And ssh2's crypto binding built for it (the server loads ssh2 at start): without it ssh2 falls back
      // to Node's crypto and the SSH gateway relays about a third less. Optional at install, expected here.
      expect(installedStamp(), "npm ci did not build ssh2's crypto binding for the runtime").toMatchObject({ ssh2Crypto: true });
      expect(maps).toContain(path.join(RUNTIME_DIR, "sshcrypto.node"));
      expect(maps).not.toContain(path.join("ssh2", "lib", "protocol", "crypto", "build"));
    }
    // It works on that database: an account, then a local sandbox made, ready, and destroyed.
    const base = `http://127.0.0.1:${port}`;
    const cookie = await signUp(base, "startup@example.com");
    const headers = { cookie, origin: base, "content-type": "application/json" };
    const created = await fetch(`${base}/api/v1/sandboxes`, {
      method: "POST",
      headers,
      body: JSON.stringify({ profile: "profile.local", input: {} }),
    });
    expect(created.status, await created.clone().text()).toBe(202);
    const { id } = (await created.json()) as { id: string };
    const status = async () => ((await (await fetch(`${base}/api/v1/sandboxes/${id}`, { headers })).json()) as { status: string }).status;
    await expect.poll(status, { timeout: 30_000 }).toBe("ready");
    expect((await fetch(`${base}/api/v1/sandboxes/${id}`, { method: "DELETE", headers })).status).toBe(202);
    await expect.poll(status, { timeout: 30_000 }).toBe("destroyed");

    // Same data directory, another port.
    const sameData = npmStart({ SANDBOXER_DATA_DIR: dataDir, PORT: String(await freeLoopbackPort()), HOST: "127.0.0.1" });
    runs.push(sameData);
    const t0 = Date.now();
    expect(await sameData.exited).not.toBe(0);
    // Refused before the migration engine waits on the busy database (it used to take ~11 s and fail obscurely).
    expect(Date.now() - t0).toBeLessThan(30_000);
    const lines = sameData.output().trim().split("\n");
    expect(lines, sameData.output()).toHaveLength(1);
    expect(lines[0]).toContain(`the embedded database ${path.join(dataDir, "sandboxer.db")} is in use by another sand-boxer server`);
    expect(lines[0]).toContain(`http://127.0.0.1:${port}`);
    expect(lines[0]).toContain("SANDBOXER_DATA_DIR");

    // Another data directory, the same port.
    const samePort = npmStart({ SANDBOXER_DATA_DIR: path.join(root, "data-2"), PORT: String(port), HOST: "127.0.0.1" });
    runs.push(samePort);
    expect(await samePort.exited).not.toBe(0);
    const portLines = samePort.output().trim().split("\n");
    expect(portLines, samePort.output()).toHaveLength(1);
    expect(portLines[0]).toContain(`port ${port} on 127.0.0.1 is already in use`);
    expect(fs.existsSync(path.join(root, "data-2", "sandboxer.db"))).toBe(false);

    // The first server is unharmed, and its record goes away when it stops.
    expect((await fetch(`http://127.0.0.1:${port}/api/v1/openapi.json`)).status).toBe(200);
    await stop(first);
    // npm exits first; the server removes its record as it exits (after handing back its worker's work).
    await expect.poll(() => fs.existsSync(path.join(dataDir, "server.json")), { timeout: 20_000 }).toBe(false);
  }, 180_000);
});

describe("the build", () => {
  it("leaves no character beyond Latin-1 in the server's scripts (V8 would hold each such file at two bytes per character)", () => {
    assertBuilt();
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (/\.[cm]?js$/.test(e.name) && /[^\u0000-\u00ff]/u.test(fs.readFileSync(p, "utf8"))) offenders.push(p);
      }
    };
    const server = path.join(REPO_ROOT, process.env.SANDBOXER_DIST_DIR ?? ".next", "server");
    walk(server);
    expect(fs.readdirSync(path.join(server, "chunks")).length).toBeGreaterThan(10);
    expect(offenders).toEqual([]);
  });
});
