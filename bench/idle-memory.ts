// [SANDBOXER_DIST_DIR=.next] npm run bench:idle-memory -- [--rounds 3] [--creates 20] [--server-flag=F …]
//
// What an app server gives back when the work stops: the embedded database, a local profile seeding a
// 2,000-file tree; each round creates `--creates` sandboxes one after another, reading the overview and
// the API list after each (the reads a dashboard makes), destroys them all, then samples the server's
// resident memory 10, 30, 45 and 60 s after the last destroy. `--server-flag` (repeatable) adds a
// Node/V8 flag to the ones npm start uses (tests/support/app-server.ts), for what-if runs
// (docs/decisions/0009-v8-memory-reducer.md). Prints one JSON line: per round, RSS at the end of the
// burst and at each sample, and the server's CPU time. Loopback only.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

import { SERVER_NODE_FLAGS, TEST_AUTH_SECRET, signUp, startAppServer, type AppServer } from "../tests/support/app-server";
import { writeConfigDir } from "../tests/support/config-dir";
import { numberedTree } from "../tests/support/trees";
import { Api } from "./lib/api";
import { loadAverage } from "./lib/machine";
import { serverNodeFlags } from "./lib/options";
import { mb, procStat, rssBytes } from "./lib/procfs";
import { runNode } from "./lib/run-node";

const SAMPLES_S = [10, 30, 45, 60];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: "string", default: "3" },
      creates: { type: "string", default: "20" },
      "server-flag": { type: "string", multiple: true, default: [] },
    },
  });
  const count = (name: "rounds" | "creates", max: number) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < 1 || n > max)
      throw new Error(`--${name} must be a whole number from 1 to ${max}, not "${values[name]}"`);
    return n;
  };
  const rounds = count("rounds", 100);
  const creates = count("creates", 1_000);
  const extraFlags = serverNodeFlags(values["server-flag"]);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-idle-memory-"));
  const tree = numberedTree(2_000, { dirs: 100, prefix: "sbx-idle-memory-tree-" });
  const configDir = writeConfigDir({
    includeRepoManifests: true,
    manifests: [],
    profiles: { seeded: { extension: "ext.local", params: { seed: { path: tree, mode: "copy" } } } },
  });
  let server: AppServer | undefined;
  try {
    server = await start(tmp, configDir, extraFlags);
    await measure(server, rounds, creates, extraFlags);
  } finally {
    await server?.stop();
    for (const dir of [tmp, tree, configDir]) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The built server on a freshly migrated embedded database in `tmp`. */
async function start(tmp: string, configDir: string, nodeFlags: string[]): Promise<AppServer> {
  const dataDir = path.join(tmp, "data");
  fs.mkdirSync(dataDir);
  // The embedded database in dataDir, for the migration and the server alike.
  const DATABASE_URL = `file:${path.join(dataDir, "sandboxer.db")}`;
  await runNode("scripts/db-migrate.ts", ["deploy"], { DATABASE_URL, SANDBOXER_DATA_DIR: dataDir });
  return startAppServer({
    env: {
      DATABASE_URL,
      SANDBOXER_DATA_DIR: dataDir,
      SANDBOXER_CONFIG_DIR: configDir,
      SANDBOXER_LOCAL_WORKSPACE_ROOT: path.join(tmp, "workspaces"),
      SANDBOXER_QUOTA_ACTIVE: "0",
      BETTER_AUTH_SECRET: TEST_AUTH_SECRET,
    },
    nodeFlags,
    node: "npm-start",
  });
}

async function measure(server: AppServer, rounds: number, creates: number, extraFlags: string[]): Promise<void> {
  const pid = server.process.pid!;
  const out: Record<string, unknown> = {
    at: new Date().toISOString(),
    nodeFlags: [...SERVER_NODE_FLAGS, ...extraFlags],
    node: server.node.version,
    creates,
    loadBefore: loadAverage(),
    rounds: [] as unknown[],
  };
  const api = new Api(server.url, await signUp(server.url, "idle@bench.test"));
  /** Polls a sandbox until it reaches `want`; a failed state or 5 minutes is an error. */
  const until = async (id: string, want: "ready" | "destroyed", everyMs: number) => {
    const deadline = performance.now() + 300_000;
    for (;;) {
      const { status } = await api.get(id);
      if (status === want) return;
      if (status.endsWith("failed")) throw new Error(`sandbox ${id} ended ${status}, not ${want}`);
      if (performance.now() > deadline) throw new Error(`sandbox ${id} still ${status} after 5 minutes, not ${want}`);
      await sleep(everyMs);
    }
  };
  await sleep(5_000);
  out.rssAfterBootMb = mb(rssBytes(pid));
  for (let round = 0; round < rounds; round++) {
    const cpu0 = procStat(pid).selfMs;
    const ids: string[] = [];
    for (let i = 0; i < creates; i++) {
      const created = await api.create("profile.seeded");
      if (!created.sandbox) throw new Error(`create: ${created.status} ${created.error}`);
      ids.push(created.sandbox.id);
      await until(created.sandbox.id, "ready", 50);
      for (const page of ["/", "/api/v1/sandboxes"]) {
        const read = await api.timedGet(page);
        if (read.status !== 200) throw new Error(`GET ${page}: ${read.status}`);
      }
    }
    for (const id of ids) {
      const destroyed = await api.destroy(id);
      if (!destroyed.sandbox) throw new Error(`destroy ${id}: ${destroyed.status} ${destroyed.error}`);
    }
    for (const id of ids) await until(id, "destroyed", 100);
    const burstCpuMs = Math.round(procStat(pid).selfMs - cpu0);
    const atEnd = mb(rssBytes(pid));
    const t0 = performance.now();
    const samples: Record<string, number> = {};
    for (const s of SAMPLES_S) {
      await sleep(Math.max(0, t0 + s * 1000 - performance.now()));
      samples[`${s}s`] = mb(rssBytes(pid));
    }
    const idleCpuMs = Math.round(procStat(pid).selfMs - cpu0 - burstCpuMs);
    (out.rounds as unknown[]).push({ rssAtEndMb: atEnd, rssAfterMb: samples, burstCpuMs, idleCpuMs });
    console.error(
      `round ${round + 1}: end ${atEnd} MB, after ${JSON.stringify(samples)}, CPU burst ${burstCpuMs} ms, idle ${idleCpuMs} ms`,
    );
  }
  out.loadAfter = loadAverage();
  console.log(JSON.stringify(out));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
