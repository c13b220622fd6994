// Two app instances (web + worker each, server.mjs as npm start runs it) on one PostgreSQL database, against a real build
// VM: every operation runs exactly once, both instances show the same state, singleton jobs run under
// one lease holder — and 200 concurrent requests to the overview and the API while 20 sandboxes are
// being created all succeed.
import fs from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";

import { percentile } from "../../bench/lib/stats";
import { REPO_ROOT, signIn, signUp, startAppServer, type AppServer } from "../support/app-server";
import { startBuildVms, stopBuildVms, type BuildVms } from "../support/build-vms";
import { createTestDatabase, type TestDatabase } from "../support/databases";
import { writeConfigDir } from "../support/manager-harness";
import { hostEntryFor } from "../support/vm-harness";

describe("several instances on PostgreSQL, under load", () => {
  let vms: BuildVms;
  let database: TestDatabase;
  let a: AppServer;
  let b: AppServer;
  let cookieA: string;
  let cookieB: string;

  beforeAll(async () => {
    vms = await startBuildVms({ vms: [{ name: "li1", address: "127.0.0.1" }] });
    database = await createTestDatabase("postgresql");
    const configDir = writeConfigDir({
      includeRepoManifests: true,
      manifests: [],
      profiles: { ws: { extension: "ext.vm-packer", params: { host: "host-li1" } } },
    });
    fs.copyFileSync(path.join(REPO_ROOT, "profiles", "local.yaml"), path.join(configDir, "profiles", "local.yaml"));
    fs.writeFileSync(
      path.join(configDir, "hosts.yaml"),
      stringify({ apiVersion: "sandboxer.dev/v1", hosts: [hostEntryFor(vms.vm("li1"))] }),
    );
    const env = {
      DATABASE_URL: database.config.url,
      SANDBOXER_CONFIG_DIR: configDir,
      SANDBOXER_SSH_IDENTITY: vms.identityFile,
      SANDBOXER_QUOTA_ACTIVE: "0",
      SANDBOXER_WORKER_CONCURRENCY: "8",
    };
    [a, b] = await Promise.all([startAppServer({ env }), startAppServer({ env })]);
    cookieA = await signUp(a.url, "admin@load.test");
    // The same account signs in on the other instance: they share the database and the secret.
    cookieB = await signIn(b.url, "admin@load.test");
  }, 120_000);

  afterAll(async () => {
    try {
      await Promise.all([a?.stop(), b?.stop()]);
      await database?.drop();
    } finally {
      await stopBuildVms(vms);
    }
  });

  it("20 creates spread over both instances, each run exactly once, while 200 concurrent reads all succeed", async () => {
    const create = (server: AppServer, cookie: string) =>
      fetch(`${server.url}/api/v1/sandboxes`, {
        method: "POST",
        headers: { cookie, "content-type": "application/json", origin: server.url },
        body: JSON.stringify({ profile: "profile.ws" }),
      });
    const started = Date.now();
    const creates = Array.from({ length: 20 }, (_, i) => (i % 2 ? create(a, cookieA) : create(b, cookieB)));
    const reads = Array.from({ length: 200 }, (_, i) => {
      const server = i % 2 ? a : b;
      const cookie = i % 2 ? cookieA : cookieB;
      const url = i % 4 < 2 ? `${server.url}/` : `${server.url}/api/v1/sandboxes?pageSize=25`;
      const t0 = performance.now();
      return fetch(url, { headers: { cookie } }).then(async (res) => {
        await res.arrayBuffer();
        return { status: res.status, ms: performance.now() - t0, url };
      });
    });
    const [createResults, readResults] = await Promise.all([Promise.all(creates), Promise.all(reads)]);
    expect(createResults.map((r) => r.status)).toEqual(Array(20).fill(202));
    const errors = readResults.filter((r) => r.status !== 200);
    expect(errors).toEqual([]);
    const ms = readResults.map((r) => r.ms);
    const pages = readResults.filter((r) => !r.url.includes("/api/")).map((r) => r.ms);
    const api = readResults.filter((r) => r.url.includes("/api/")).map((r) => r.ms);
    console.log(
      `[measure] 200 concurrent reads during 20 creates: 0 errors; p50 ${percentile(ms, 50).toFixed(0)} ms, p95 ${percentile(ms, 95).toFixed(0)} ms ` +
        `(overview p95 ${percentile(pages, 95).toFixed(0)} ms, API p95 ${percentile(api, 95).toFixed(0)} ms)`,
    );

    const ids = (await Promise.all(createResults.map((r) => r.json() as Promise<{ id: string }>))).map((s) => s.id);
    await expect
      .poll(() => database.db.sandbox.count({ where: { id: { in: ids }, status: { in: ["queued", "creating"] } } }), {
        timeout: 90_000,
        interval: 200,
      })
      .toBe(0);
    const settled = await database.db.sandbox.findMany({
      where: { id: { in: ids } },
      select: { id: true, status: true, statusReason: true },
    });
    expect(settled.filter((r) => r.status !== "ready")).toEqual([]);
    expect(settled).toHaveLength(20);
    console.log(`[measure] 20 creates on 2 instances ready after ${Date.now() - started} ms`);
    // Exactly once: one attempt each, one "Created" line each.
    const ops = await database.db.operation.findMany({ where: { sandboxId: { in: ids }, kind: "create" } });
    expect(ops.map((o) => o.attempt)).toEqual(Array(20).fill(1));
    const owners = new Set(ops.map((o) => o.leaseOwner));
    console.log(`[measure] creates run by ${owners.size} worker(s)`);
    for (const id of ids) {
      const created = await database.db.event.count({ where: { sandboxId: id, message: { startsWith: "Created " } } });
      expect(created, id).toBe(1);
    }
    // Both instances show the same state.
    const viewA = (await (await fetch(`${a.url}/api/v1/sandboxes?pageSize=50`, { headers: { cookie: cookieA } })).json()) as {
      rows: { id: string; status: string }[];
    };
    const viewB = (await (await fetch(`${b.url}/api/v1/sandboxes?pageSize=50`, { headers: { cookie: cookieB } })).json()) as {
      rows: { id: string; status: string }[];
    };
    expect(viewA.rows.map((r) => [r.id, r.status])).toEqual(viewB.rows.map((r) => [r.id, r.status]));
    // One holder per singleton job, and it is one of the two instances' workers.
    const leases = await database.db.lease.findMany({ orderBy: { name: "asc" } });
    const workers = new Set((await database.db.worker.findMany()).map((w) => w.id));
    expect(workers.size).toBe(2);
    expect(leases.map((l) => l.name)).toEqual(["maintenance", "reaper"]);
    for (const l of leases) expect(workers.has(l.owner)).toBe(true);

    // Destroy everything through the other instance; every workspace goes.
    const destroyStarted = Date.now();
    await Promise.all(
      ids.map((id, i) =>
        fetch(`${(i % 2 ? b : a).url}/api/v1/sandboxes/${id}`, {
          method: "DELETE",
          headers: { cookie: i % 2 ? cookieB : cookieA, origin: (i % 2 ? b : a).url },
        }),
      ),
    );
    await expect
      .poll(() => database.db.sandbox.count({ where: { id: { in: ids }, status: { not: "destroyed" } } }), {
        timeout: 60_000,
        interval: 200,
      })
      .toBe(0);
    console.log(`[measure] 20 destroys on 2 instances done after ${Date.now() - destroyStarted} ms`);
    expect(fs.readdirSync(vms.vm("li1").workspaceRoot).filter((n) => n.startsWith("sbx-"))).toEqual([]);
    expect(await database.db.event.count({ where: { type: "audit", action: "sandbox.teardown", target: { in: ids } } })).toBe(20);
  });
});
