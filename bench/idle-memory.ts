// [SANDBOXER_DIST_DIR=.next] npm run bench:idle-memory -- [--rounds 3] [--creates 20] [--server-flag=F …]
//
// What an app server gives back when the work stops: the embedded database, a local profile seeding a
// 2,000-file tree; each round creates `--creates` sandboxes one after another, reading the overview and
// the API list after each (the reads a dashboard makes), destroys them all, then samples the server's
// resident memory 10, 30, 45 and 60 s after the last destroy. `--server-flag` (repeatable) adds a
// Node/V8 flag to the ones npm start uses (tests/support/app-server.ts), for what-if runs
// (docs/decisions/0009-v8-memory-reducer.md). Prints one
// JSON line: per round, RSS at the end of the burst and at each sample, and the server's CPU time.
// Loopback only.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

import { REPO_ROOT, SERVER_NODE_FLAGS, TEST_AUTH_SECRET, signUp, startAppServer } from "../tests/support/app-server";
import { writeConfigDir } from "../tests/support/config-dir";
import { numberedTree } from "../tests/support/trees";
import { loadAverage } from "./lib/machine";
import { cpuTimeMs, rssBytes } from "./lib/procfs";

const SAMPLES_S = [10, 30, 45, 60];
const mb = (bytes: number) => Math.round(bytes / 104857.6) / 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: "string", default: "3" },
      creates: { type: "string", default: "20" },
      "server-flag": { type: "string", multiple: true, default: [] },
    },
  });
  const rounds = Number(values.rounds);
  const creates = Number(values.creates);
  const extraFlags = values["server-flag"];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-idle-memory-"));
  const dataDir = path.join(tmp, "data");
  fs.mkdirSync(dataDir);
  const migrate = spawnSync(process.execPath, ["--conditions=react-server", "--import", "tsx", "scripts/db-migrate.ts", "deploy"], {
    cwd: REPO_ROOT,
    env: { ...process.env, SANDBOXER_DATA_DIR: dataDir, DATABASE_URL: undefined },
    encoding: "utf8",
  });
  if (migrate.status !== 0) throw new Error(`migrate failed: ${migrate.stderr}`);
  const tree = numberedTree(2_000, { dirs: 100, prefix: "sbx-idle-memory-tree-" });
  const configDir = writeConfigDir({
    includeRepoManifests: true,
    manifests: [],
    profiles: { seeded: { extension: "ext.local", params: { seed: { path: tree, mode: "copy" } } } },
  });
  const server = await startAppServer({
    env: {
      SANDBOXER_DATA_DIR: dataDir,
      SANDBOXER_CONFIG_DIR: configDir,
      SANDBOXER_LOCAL_WORKSPACE_ROOT: path.join(tmp, "workspaces"),
      SANDBOXER_QUOTA_ACTIVE: "0",
      BETTER_AUTH_SECRET: TEST_AUTH_SECRET,
    },
    nodeFlags: extraFlags,
  });
  const pid = server.process.pid!;
  const out: Record<string, unknown> = {
    at: new Date().toISOString(),
    nodeFlags: [...SERVER_NODE_FLAGS, ...extraFlags],
    creates,
    loadBefore: loadAverage(),
    rounds: [] as unknown[],
  };
  try {
    const cookie = await signUp(server.url, "idle@bench.test");
    const api = (p: string, init: RequestInit = {}) =>
      fetch(`${server.url}${p}`, { ...init, headers: { cookie, origin: server.url, "content-type": "application/json", ...init.headers } });
    await sleep(5_000);
    out.rssAfterBootMb = mb(rssBytes(pid));
    for (let round = 0; round < rounds; round++) {
      const cpu0 = cpuTimeMs(pid).selfMs;
      const ids: string[] = [];
      for (let i = 0; i < creates; i++) {
        const res = await api("/api/v1/sandboxes", { method: "POST", body: JSON.stringify({ profile: "profile.seeded", input: {} }) });
        if (!res.ok) throw new Error(`create: ${res.status} ${await res.text()}`);
        const id = ((await res.json()) as { id: string }).id;
        ids.push(id);
        for (;;) {
          const s = ((await (await api(`/api/v1/sandboxes/${id}`)).json()) as { status: string }).status;
          if (s === "ready") break;
          if (s.endsWith("failed")) throw new Error(`sandbox ${id} ended ${s}`);
          await sleep(50);
        }
        await (await api("/")).text();
        await (await api("/api/v1/sandboxes")).text();
      }
      for (const id of ids) {
        const res = await api(`/api/v1/sandboxes/${id}`, { method: "DELETE" });
        if (!res.ok) throw new Error(`destroy ${id}: ${res.status}`);
      }
      for (const id of ids) {
        for (;;) {
          const s = ((await (await api(`/api/v1/sandboxes/${id}`)).json()) as { status: string }).status;
          if (s === "destroyed") break;
          if (s === "destroy_failed") throw new Error(`sandbox ${id} ended ${s}`);
          await sleep(100);
        }
      }
      const burstCpuMs = Math.round(cpuTimeMs(pid).selfMs - cpu0);
      const atEnd = mb(rssBytes(pid));
      const t0 = performance.now();
      const samples: Record<string, number> = {};
      for (const s of SAMPLES_S) {
        await sleep(Math.max(0, t0 + s * 1000 - performance.now()));
        samples[`${s}s`] = mb(rssBytes(pid));
      }
      const idleCpuMs = Math.round(cpuTimeMs(pid).selfMs - cpu0 - burstCpuMs);
      (out.rounds as unknown[]).push({ rssAtEndMb: atEnd, rssAfterMb: samples, burstCpuMs, idleCpuMs });
      console.error(
        `round ${round + 1}: end ${atEnd} MB, after ${JSON.stringify(samples)}, CPU burst ${burstCpuMs} ms, idle ${idleCpuMs} ms`,
      );
    }
    out.loadAfter = loadAverage();
    console.log(JSON.stringify(out));
  } finally {
    await server.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.rmSync(tree, { recursive: true, force: true });
    fs.rmSync(configDir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
