// Running it as a team on PostgreSQL, with real processes: a standalone worker (`npm run worker`) and a
// web-only instance (server.mjs, SANDBOXER_WORKER=off). The worker's pool setting bounds its
// connections in pg_stat_activity; when it is killed mid-create, the web-only instance — which runs no
// reaper — says why the creates are stuck within the lease time, on the API and on the page; a new
// worker then finishes them.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { SseParser } from "@/cli/sse";

import { TEST_AUTH_SECRET, signUp, startAppServer, type AppServer } from "../support/app-server";
import { createTestDatabase, pgAdmin, type TestDatabase } from "../support/databases";
import { writeConfigDir } from "../support/manager-harness";
import { numberedTree } from "../support/trees";
import { startWorkerProcess, type WorkerProcess } from "../support/worker-process";

const LEASE_MS = 3_000;

describe("a standalone worker and a web-only instance on PostgreSQL", () => {
  let database: TestDatabase;
  let web: AppServer;
  let cookie: string;
  let configDir: string;
  let tree: string;
  let bigTree: string;
  const dirs: string[] = [];
  const workers: WorkerProcess[] = [];

  const newDataDir = () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-team-worker-"));
    dirs.push(dir);
    return dir;
  };
  const workerEnv = (dataDir: string, extra: Record<string, string> = {}) => {
    return {
      DATABASE_URL: database.config.url,
      BETTER_AUTH_SECRET: TEST_AUTH_SECRET,
      SANDBOXER_CONFIG_DIR: configDir,
      SANDBOXER_DATA_DIR: dataDir,
      SANDBOXER_LEASE: `${LEASE_MS}ms`,
      SANDBOXER_WORKER_POLL: "100ms",
      SANDBOXER_HEALTH_INTERVAL: "1h",
      SANDBOXER_QUOTA_ACTIVE: "0",
      ...extra,
    };
  };

  /** Starts a worker process and waits until it has registered. */
  const startWorker = async (env: Record<string, string>) => {
    const w = startWorkerProcess(env);
    workers.push(w);
    await expect.poll(() => database.db.worker.count({ where: { pid: w.child.pid } }), { timeout: 30_000, interval: 100 }).toBe(1);
    return w;
  };
  /** POSTs a create of `profile` to the web-only instance; its sandbox id. */
  const createOnWeb = async (profile: string) => {
    const res = await fetch(`${web.url}/api/v1/sandboxes`, {
      method: "POST",
      headers: { cookie, "content-type": "application/json", origin: web.url },
      body: JSON.stringify({ profile }),
    });
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  };

  beforeAll(async () => {
    database = await createTestDatabase("postgresql");
    tree = numberedTree(4_000, { dirs: 100, prefix: "sbx-team-tree-" });
    // A copy of 20,000 files takes seconds (8 s here): a destroy lands while it runs.
    bigTree = numberedTree(20_000, { dirs: 200, prefix: "sbx-team-big-" });
    configDir = writeConfigDir({
      includeRepoManifests: true,
      manifests: [],
      profiles: {
        seeded: { extension: "ext.local", params: { seed: { path: tree, mode: "copy" } } },
        big: { extension: "ext.local", params: { seed: { path: bigTree, mode: "copy" } } },
      },
    });
    web = await startAppServer({
      // Every process of a fleet shares the lease setting (it also says when a silent worker is gone).
      env: {
        DATABASE_URL: database.config.url,
        SANDBOXER_CONFIG_DIR: configDir,
        SANDBOXER_WORKER: "off",
        SANDBOXER_QUOTA_ACTIVE: "0",
        SANDBOXER_LEASE: `${LEASE_MS}ms`,
      },
    });
    cookie = await signUp(web.url, "admin@team.test");
  }, 120_000);

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill("SIGKILL")));
    await web?.stop();
    await database?.drop();
    for (const d of [...dirs, configDir, tree, bigTree]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  it("SANDBOXER_DB_POOL bounds the worker's connections; its killed creates say why on the web-only instance within the lease", async () => {
    // Both workers run on one machine: the same data directory, so the same machine id, where the
    // local sandboxes live.
    const machineDir = newDataDir();
    const w1 = startWorkerProcess(workerEnv(machineDir, { SANDBOXER_DB_POOL: "2", SANDBOXER_WORKER_CONCURRENCY: "6" }));
    workers.push(w1);
    const create = async () => {
      const res = await fetch(`${web.url}/api/v1/sandboxes`, {
        method: "POST",
        headers: { cookie, "content-type": "application/json", origin: web.url },
        body: JSON.stringify({ profile: "profile.seeded" }),
      });
      const body = await res.text();
      expect(res.status, `${body}\n${web.logs().slice(-3000)}`).toBe(202);
      return (JSON.parse(body) as { id: string }).id;
    };
    const ids = await Promise.all(Array.from({ length: 6 }, create));

    // Sample the worker's connections while all six copy their trees.
    let peak = 0;
    let sampling = true;
    const sampler = pgAdmin(async (c) => {
      while (sampling) {
        const r = await c.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1", [
          `sandboxer/${w1.child.pid}`,
        ]);
        peak = Math.max(peak, Number(r.rows[0]!.n));
        await new Promise((res) => setTimeout(res, 25));
      }
    });
    try {
      await expect
        .poll(() => database.db.event.count({ where: { sandboxId: { in: ids }, message: { startsWith: "Copying" } } }), {
          timeout: 60_000,
          interval: 50,
        })
        .toBe(6);
    } finally {
      sampling = false;
      await sampler;
    }
    console.log(`[measure] worker with SANDBOXER_DB_POOL=2 and 6 creates in flight: peak ${peak} PostgreSQL connections`);
    expect(peak).toBeGreaterThanOrEqual(1);
    expect(peak).toBeLessThanOrEqual(2);

    // Killed mid-copy: nothing heartbeats, nothing reaps (the web instance runs no worker).
    const stillCreating = await database.db.sandbox.findMany({ where: { id: { in: ids }, status: "creating" }, select: { id: true } });
    expect(stillCreating.length).toBeGreaterThan(0);
    await w1.kill("SIGKILL");
    const killedAt = Date.now();
    const stuckId = stillCreating[0]!.id;
    type View = { status: string; statusReason: string | null; stuck?: { reason: string; since: string | null } | null };
    const view = async (id: string) =>
      (await (await fetch(`${web.url}/api/v1/sandboxes/${id}?detail=1`, { headers: { cookie } })).json()) as View;
    // (For a moment the worker row may still look live — its heartbeat and the operation lease are renewed
    // separately — and the reason says a live worker will retry; within a lease it is gone.)
    await expect
      .poll(async () => (await view(stuckId)).statusReason ?? "", { timeout: 4 * LEASE_MS, interval: 100 })
      .toMatch(/stopped responding.*no worker is running/);
    const elapsed = Date.now() - killedAt;
    console.log(`[measure] stuck reason shown by the web-only instance ${elapsed} ms after the kill (lease ${LEASE_MS} ms)`);
    // The lease was last renewed at most a heartbeat before the kill; a read then sees it expired.
    expect(elapsed).toBeLessThanOrEqual(LEASE_MS + 1_500);
    const detail = await view(stuckId);
    expect(detail.status).toBe("creating");
    expect(detail.statusReason).toMatch(
      new RegExp(
        `^The worker running its create \\(.*:${w1.child.pid}:.*\\) stopped responding \\d+ s ago, and no worker is running on machine \\S+, where this local sandbox lives`,
      ),
    );
    expect(detail.stuck?.reason).toBe(detail.statusReason);
    const page = await (await fetch(`${web.url}/sandboxes/${stuckId}`, { headers: { cookie } })).text();
    expect(page).toContain('data-testid="stuck-reason"');
    expect(page).toContain("where this local sandbox lives");

    // A worker comes back on that machine: it reaps the expired leases, retries, and every create ends
    // ready; the reason goes.
    const w2 = startWorkerProcess(workerEnv(machineDir));
    workers.push(w2);
    await expect
      .poll(() => database.db.sandbox.count({ where: { id: { in: ids }, status: "ready" } }), { timeout: 90_000, interval: 200 })
      .toBe(6);
    expect((await view(stuckId)).stuck).toBeNull();
    await w2.kill("SIGTERM");
  });

  it("a create sent to the web-only instance wakes a worker elsewhere at once, and its log reaches that instance's stream as written", async () => {
    // The worker polls every 10 minutes: after its first look at start, only the database's wake-up
    // (lib/db/wake.ts) can tell it about the create within this test's time.
    const w = await startWorker(workerEnv(newDataDir(), { SANDBOXER_WORKER_POLL: "10m" }));
    await new Promise((r) => setTimeout(r, 500)); // past its first poll
    const postedAt = Date.now();
    const id = await createOnWeb("profile.seeded");
    // Follow it on the web-only instance: each line is written by the worker's process.
    const stream = await fetch(`${web.url}/api/v1/sandboxes/${id}/events`, { headers: { cookie, accept: "text/event-stream" } });
    const reader = stream.body!.getReader();
    const decoder = new TextDecoder();
    const parser = new SseParser();
    const lags: number[] = [];
    let end: { status: string } | null = null;
    const deadline = Date.now() + 60_000;
    while (!end && Date.now() < deadline) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const message of parser.push(decoder.decode(value, { stream: true }))) {
        const payload = JSON.parse(message.data) as { at?: string; status: string };
        if (message.event === "end") end = payload;
        else if (payload.at) lags.push(Date.now() - Date.parse(payload.at));
      }
    }
    await reader.cancel().catch(() => undefined);
    expect(end?.status).toBe("ready");
    const events = await database.db.event.findMany({ where: { sandboxId: id, type: "state" }, orderBy: { id: "asc" } });
    const queued = events.find((e) => e.message.startsWith("Queued"))?.createdAt;
    const creating = events.find((e) => e.message.startsWith("Creating"))?.createdAt;
    expect(queued).toBeDefined();
    expect(creating).toBeDefined();
    lags.sort((a, b) => a - b);
    console.log(
      `[measure] web-only instance → worker process with a 10-min poll: picked up ${creating!.getTime() - queued!.getTime()} ms after queued, ` +
        `ready ${Date.now() - postedAt} ms after the POST; stream lag per event (written → received on the web instance) ` +
        `median ${lags[Math.floor(lags.length / 2)]} ms, max ${lags.at(-1)} ms over ${lags.length} events`,
    );
    await w.kill("SIGTERM");
  });

  it("a destroy sent to the web-only instance stops a create running in the worker process at once, not at the worker's next cancel poll", async () => {
    // The worker asks whether its creates were cancelled only every 10 minutes: within this test's time
    // only the database's wake-up (the cancel_wake trigger) can stop the copy.
    const w = await startWorker(workerEnv(newDataDir(), { SANDBOXER_CANCEL_POLL: "10m" }));
    const id = await createOnWeb("profile.big");
    await expect
      .poll(async () => (await database.db.sandbox.findUnique({ where: { id }, select: { status: true } }))?.status, {
        timeout: 30_000,
        interval: 25,
      })
      .toBe("creating");
    const deletedAt = Date.now();
    const del = await fetch(`${web.url}/api/v1/sandboxes/${id}`, { method: "DELETE", headers: { cookie, origin: web.url } });
    expect(del.status).toBeLessThan(300);
    await expect
      .poll(async () => (await database.db.sandbox.findUnique({ where: { id }, select: { status: true } }))?.status, {
        timeout: 60_000,
        interval: 50,
      })
      .toBe("destroyed");
    const ops = await database.db.operation.findMany({ where: { sandboxId: id }, orderBy: { createdAt: "asc" } });
    expect(ops.map((o) => [o.kind, o.state])).toEqual([
      ["create", "cancelled"],
      ["destroy", "succeeded"],
    ]);
    // Stopped mid-copy by the request ("Cancelled by destroy"), not run to its end and then found
    // destroying ("Destroy requested during create"), which is what the 10-minute poll alone gives.
    expect(ops[0]!.error).toBe("Cancelled by destroy");
    const log = await database.db.event.findMany({ where: { sandboxId: id }, orderBy: { id: "asc" }, select: { message: true } });
    expect(log.map((e) => e.message)).toContain("Create cancelled: a destroy was requested");
    console.log(
      `[measure] destroy on the web-only instance → the worker process's create stopped ${ops[0]!.finishedAt!.getTime() - deletedAt} ms later, ` +
        `destroyed ${ops[1]!.finishedAt!.getTime() - deletedAt} ms after the DELETE (cancel poll 10 min)`,
    );
    await w.kill("SIGTERM");
  });
});
