// [SANDBOXER_DIST_DIR=.next] npm run bench:followers -- [--followers 10] [--creates 3]
//
// What people following sandboxes cost the database on a team deployment (PostgreSQL): instance A runs
// the worker, instance B is web-only; `--followers` event streams on B follow each of a few creates
// run by A, and B's own counter (sandboxer_db_statements_total) says how many statements B ran while
// they followed (less what its own scrape costs), and per second while they follow a create that writes
// nothing for seconds (a 20,000-file copy). Build two versions into two directories (SANDBOXER_DIST_DIR=
// .next-x npx next build) and run it against each to compare code. Prints one JSON line. Loopback only.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

import { SseParser } from "@/cli/sse";

import { TEST_AUTH_SECRET, signUp, startAppServer, type AppServer } from "../tests/support/app-server";
import { writeConfigDir } from "../tests/support/config-dir";
import { metricValue } from "../tests/support/stream-metrics";
import { numberedTree } from "../tests/support/trees";
import { createThrowawayDatabase } from "./lib/pg-database";

const METRICS_TOKEN = "followers-metrics-token-0123456789abcdef";

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { followers: { type: "string", default: "10" }, creates: { type: "string", default: "3" } } });
  const followers = Number(values.followers);
  const creates = Number(values.creates);
  const database = await createThrowawayDatabase("followers");
  const tree = numberedTree(4_000, { dirs: 100, prefix: "sbx-followers-" });
  const bigTree = numberedTree(20_000, { dirs: 200, prefix: "sbx-followers-big-" });
  const configDir = writeConfigDir({
    includeRepoManifests: true,
    manifests: [],
    profiles: {
      seeded: { extension: "ext.local", params: { seed: { path: tree, mode: "copy" } } },
      big: { extension: "ext.local", params: { seed: { path: bigTree, mode: "copy" } } },
    },
  });
  const common = {
    DATABASE_URL: database.url,
    SANDBOXER_CONFIG_DIR: configDir,
    SANDBOXER_QUOTA_ACTIVE: "0",
    SANDBOXER_METRICS_TOKEN: METRICS_TOKEN,
    SANDBOXER_MAX_STREAMS_PER_PERSON: String(followers + 4),
    BETTER_AUTH_SECRET: TEST_AUTH_SECRET,
  };
  const servers: AppServer[] = [];
  try {
    const a = await startAppServer({
      env: { ...common, SANDBOXER_DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "sbx-fa-")) },
      node: "npm-start",
    });
    servers.push(a);
    const b = await startAppServer({ env: { ...common, SANDBOXER_WORKER: "off" }, node: "npm-start" });
    servers.push(b);
    const cookie = await signUp(a.url, "followers@bench.test");
    const statements = async () => {
      const res = await fetch(`${b.url}/api/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      return metricValue(await res.text(), "sandboxer_db_statements_total");
    };
    /** Sandboxes whose "Copying" line some follower has seen. */
    const firstCopying = new Set<string>();
    /** Follows `id` on B to its end: the lines seen, and ms from the "Copying" line to the "Seeded" one. */
    const follow = async (id: string) => {
      const res = await fetch(`${b.url}/api/v1/sandboxes/${id}/events`, { headers: { cookie, accept: "text/event-stream" } });
      if (!res.ok || !res.body) throw new Error(`follow ${id}: ${res.status}`);
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      const parser = new SseParser();
      let lines = 0;
      let copyingAt = 0;
      let copyingToSeeded = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return { lines, copyingToSeeded };
        for (const m of parser.push(decoder.decode(value, { stream: true }))) {
          if (m.event === "end") {
            await reader.cancel().catch(() => undefined);
            return { lines, copyingToSeeded };
          }
          if (m.event !== "log" && m.event !== "state") continue;
          lines++;
          const message = (JSON.parse(m.data) as { message: string }).message;
          if (message.startsWith("Copying")) {
            copyingAt = Date.now();
            firstCopying.add(id);
          } else if (message.startsWith("Seeded") && copyingAt) copyingToSeeded = Date.now() - copyingAt;
        }
      }
    };
    // A scrape runs statements of its own (fleet gauges): measured, and taken off each window.
    let scrapeCost = Infinity;
    for (let i = 0; i < 3; i++) {
      const x = await statements();
      scrapeCost = Math.min(scrapeCost, (await statements()) - x);
    }
    const create = async (profile: string) => {
      const res = await fetch(`${a.url}/api/v1/sandboxes`, {
        method: "POST",
        headers: { cookie, "content-type": "application/json", origin: a.url },
        body: JSON.stringify({ profile }),
      });
      const body = await res.text();
      if (res.status !== 202) throw new Error(`create of ${profile}: ${res.status} ${body}`);
      return (JSON.parse(body) as { id: string }).id;
    };
    const perCreate: number[] = [];
    let linesSeen = 0;
    for (let i = 0; i < creates; i++) {
      const id = await create("profile.seeded");
      const before = await statements();
      const seen = await Promise.all(Array.from({ length: followers }, () => follow(id)));
      perCreate.push((await statements()) - before - scrapeCost);
      linesSeen = seen[0]!.lines;
    }
    // Following a create that writes nothing for seconds (a 20,000-file copy logs before and after).
    const id = await create("profile.big");
    const all = Array.from({ length: followers }, () => follow(id));
    const until = Date.now() + 30_000;
    while (!firstCopying.has(id) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 500));
    const t0 = await statements();
    const windowMs = 4_000;
    await new Promise((r) => setTimeout(r, windowMs));
    const idlePerSecond = (((await statements()) - t0 - scrapeCost) * 1000) / windowMs;
    const quiet = (await Promise.all(all)).every((f) => f.copyingToSeeded >= windowMs);
    const out = {
      dist: process.env.SANDBOXER_DIST_DIR ?? ".next",
      followers,
      eventsPerCreate: linesSeen,
      scrapeCost,
      statementsOnWebOnlyPerCreate: perCreate,
      idleStatementsPerSecondWhileFollowing: Math.round(idlePerSecond * 10) / 10,
      idleWindowWasQuiet: quiet,
      loadavg: os.loadavg().map((l) => Math.round(l * 100) / 100),
    };
    console.log(JSON.stringify(out));
  } finally {
    for (const s of servers) await s.stop();
    await database.drop();
    for (const d of [tree, bigTree]) fs.rmSync(d, { recursive: true, force: true });
    fs.rmSync(configDir, { recursive: true, force: true });
  }
}

await main();
