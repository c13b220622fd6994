// Metrics from a fleet add up: instance A (web + worker), instance B (web only) and a standalone
// worker with its own metrics listener, on one PostgreSQL database. Summed over the three targets as
// docs/operations.md says (plain `sum`), the fleet gauges equal the database's counts — one target
// exports them — and the operation timings of A's worker and the standalone worker together count
// every operation the database records as run.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { REPO_ROOT, TEST_AUTH_SECRET, signUp, startAppServer, type AppServer } from "../support/app-server";
import { freeLoopbackPort } from "../support/build-vms";
import { createTestDatabase, type TestDatabase } from "../support/databases";
import { writeConfigDir } from "../support/manager-harness";
import { startWorkerProcess, type WorkerProcess } from "../support/worker-process";

const TOKEN = "metrics-token-fleet-0123456789";

type Sample = { name: string; labels: Record<string, string>; value: number };

function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** sum by (label) (name{filter}) over all targets, as PromQL would. */
function sumBy(targets: Sample[][], name: string, by: string[], filter: Record<string, string> = {}): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of targets.flat()) {
    if (s.name !== name || Object.entries(filter).some(([k, v]) => s.labels[k] !== v)) continue;
    const key = by.map((b) => s.labels[b] ?? "").join("/");
    out[key] = (out[key] ?? 0) + s.value;
  }
  return out;
}

describe("fleet metrics on PostgreSQL", () => {
  let database: TestDatabase;
  let a: AppServer;
  let b: AppServer;
  let worker: WorkerProcess;
  let workerPort: number;
  let cookie: string;
  let configDir: string;
  const dirs: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase("postgresql");
    configDir = writeConfigDir({ includeRepoManifests: true, manifests: [] });
    fs.copyFileSync(path.join(REPO_ROOT, "profiles", "local.yaml"), path.join(configDir, "profiles", "local.yaml"));
    // One machine, one local workspace root for every process (a local sandbox lives on its machine).
    const workspaces = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-fleet-ws-"));
    dirs.push(workspaces, configDir);
    const env = {
      DATABASE_URL: database.config.url,
      SANDBOXER_CONFIG_DIR: configDir,
      SANDBOXER_METRICS_TOKEN: TOKEN,
      SANDBOXER_QUOTA_ACTIVE: "0",
      SANDBOXER_HEALTH_INTERVAL: "1h",
      SANDBOXER_LOCAL_WORKSPACE_ROOT: workspaces,
    };
    workerPort = await freeLoopbackPort();
    const workerData = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-fleet-worker-"));
    dirs.push(workerData);
    [a, b] = await Promise.all([startAppServer({ env }), startAppServer({ env: { ...env, SANDBOXER_WORKER: "off" } })]);
    worker = startWorkerProcess({
      ...env,
      BETTER_AUTH_SECRET: TEST_AUTH_SECRET,
      SANDBOXER_DATA_DIR: workerData,
      SANDBOXER_WORKER_POLL: "100ms",
      SANDBOXER_WORKER_METRICS_PORT: String(workerPort),
    });
    cookie = await signUp(a.url, "admin@fleet.test");
  }, 120_000);

  afterAll(async () => {
    await worker?.kill("SIGTERM");
    await Promise.all([a?.stop(), b?.stop()]);
    await database?.drop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it("summed over the three targets, the gauges equal the database's counts and the timings count every operation", async () => {
    // The worker's listener: same auth as /api/metrics.
    await expect
      .poll(
        () =>
          fetch(`http://127.0.0.1:${workerPort}/metrics`).then(
            (r) => r.status,
            () => 0,
          ),
        { timeout: 30_000 },
      )
      .toBe(401);
    const bad = await fetch(`http://127.0.0.1:${workerPort}/metrics`, { headers: { authorization: "Bearer wrong-token-0123456789abcd" } });
    expect(bad.status).toBe(401);

    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const server = i % 2 ? a : b;
      const res = await fetch(`${server.url}/api/v1/sandboxes`, {
        method: "POST",
        headers: { cookie, "content-type": "application/json", origin: server.url },
        body: JSON.stringify({ profile: "profile.local" }),
      });
      expect(res.status).toBe(202);
      ids.push(((await res.json()) as { id: string }).id);
    }
    await expect.poll(() => database.db.sandbox.count({ where: { status: "ready" } }), { timeout: 60_000, interval: 100 }).toBe(8);
    for (const id of ids.slice(0, 3)) {
      expect((await fetch(`${b.url}/api/v1/sandboxes/${id}`, { method: "DELETE", headers: { cookie, origin: b.url } })).status).toBe(202);
    }
    await expect.poll(() => database.db.sandbox.count({ where: { status: "destroyed" } }), { timeout: 60_000, interval: 100 }).toBe(3);

    const scrapeAll = async () =>
      Promise.all(
        [`${a.url}/api/metrics`, `${b.url}/api/metrics`, `http://127.0.0.1:${workerPort}/metrics`].map(async (url) => {
          const res = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
          expect(res.status, url).toBe(200);
          return parse(await res.text());
        }),
      );
    const ran = await database.db.operation.count({ where: { kind: { in: ["create", "destroy"] }, state: "succeeded" } });
    expect(ran).toBe(11);
    // The duration is observed just after the operation's end is written: poll until every one is in.
    let targets: Sample[][] = [];
    await expect
      .poll(
        async () => {
          targets = await scrapeAll();
          const counts = sumBy(targets, "sandboxer_operation_duration_seconds_count", ["kind"], { result: "succeeded" });
          return (counts.create ?? 0) + (counts.destroy ?? 0);
        },
        { timeout: 10_000, interval: 200 },
      )
      .toBe(ran);

    // One exporter of the fleet gauges.
    expect(sumBy(targets, "sandboxer_metrics_exporter", [])[""]).toBe(1);
    const byStatus = await database.db.sandbox.groupBy({ by: ["status"], _count: { _all: true } });
    expect(sumBy(targets, "sandboxer_sandboxes", ["status"])).toEqual(Object.fromEntries(byStatus.map((g) => [g.status, g._count._all])));
    const byOp = await database.db.operation.groupBy({ by: ["kind", "state"], _count: { _all: true } });
    expect(sumBy(targets, "sandboxer_operations", ["kind", "state"])).toEqual(
      Object.fromEntries(byOp.map((g) => [`${g.kind}/${g.state}`, g._count._all])),
    );
    expect(sumBy(targets, "sandboxer_queue_depth", [])[""]).toBe(0);
    expect(sumBy(targets, "sandboxer_workers_live", [])[""]).toBe(2);
    // Process series carry their instance and role; the web-only instance ran nothing.
    const roles = targets.map((t) => t.find((s) => s.name === "sandboxer_process_resident_memory_bytes")?.labels.sandboxer_role);
    expect(roles).toEqual(["web+worker", "web", "worker"]);
    const instances = new Set(
      targets.map((t) => t.find((s) => s.name === "sandboxer_process_resident_memory_bytes")?.labels.sandboxer_instance),
    );
    expect(instances.size).toBe(3);
    expect(targets[1]!.filter((s) => s.name === "sandboxer_operation_duration_seconds_count" && s.value > 0)).toEqual([]);
  });

  it("instances with different SANDBOXER_PUBLIC_URLs say so loudly at start", async () => {
    // The harness gives each instance its own URL (BETTER_AUTH_URL = its address): the later one to
    // start sees the earlier one at once; the earlier one at its next heartbeat.
    const logs = `${a.logs()}\n${b.logs()}`;
    const lines = logs.split("\n").filter((l) => l.includes("SANDBOXER_PUBLIC_URL differs"));
    expect(lines.length).toBeGreaterThanOrEqual(1);
    const rec = JSON.parse(lines[0]!) as { level: number; msg: string; peerUrl: string; publicUrl: string };
    expect(rec.level).toBe(50);
    expect(new Set([rec.peerUrl, rec.publicUrl])).toEqual(new Set([a.url, b.url]));
    expect(rec.msg).toContain("give every instance the same SANDBOXER_PUBLIC_URL");
  });
});
