// The Prometheus endpoint over HTTP: a metrics token or an admin may read it, a member may not,
// and the figures come from the database (so every instance reports the same counts).
import fs from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

import { REPO_ROOT, signUp, startAppServer, type AppServer } from "../support/app-server";
import { createTestDatabase, type TestDatabase } from "../support/databases";
import { writeConfigDir } from "../support/manager-harness";

const METRICS_TOKEN = "metrics-token-0123456789abcdef";

describe("/api/metrics", () => {
  let database: TestDatabase;
  let server: AppServer;
  let admin: string;
  let member: string;

  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
    const configDir = writeConfigDir({ includeRepoManifests: true, manifests: [] });
    fs.copyFileSync(path.join(REPO_ROOT, "profiles", "local.yaml"), path.join(configDir, "profiles", "local.yaml"));
    server = await startAppServer({
      env: { DATABASE_URL: database.config.url, SANDBOXER_CONFIG_DIR: configDir, SANDBOXER_METRICS_TOKEN: METRICS_TOKEN },
    });
    admin = await signUp(server.url, "admin@metrics.test");
    member = await signUp(server.url, "member@metrics.test");
    const res = await fetch(`${server.url}/api/v1/sandboxes`, {
      method: "POST",
      headers: { cookie: member, "content-type": "application/json", origin: server.url },
      body: JSON.stringify({ profile: "profile.local" }),
    });
    expect(res.status).toBe(202);
    // (vi.waitFor: expect.poll works only inside a test.)
    await vi.waitFor(
      async () => {
        expect(await database.db.sandbox.count({ where: { status: "ready" } })).toBe(1);
        expect(await database.db.operation.count({ where: { kind: "create", state: "succeeded" } })).toBe(1);
      },
      { timeout: 30_000, interval: 50 },
    );
  });

  afterAll(async () => {
    await server?.stop();
    await database?.drop();
  });

  it("answers the metrics token and admins; refuses members and anonymous callers", async () => {
    expect((await fetch(`${server.url}/api/metrics`)).status).toBe(401);
    expect((await fetch(`${server.url}/api/metrics`, { headers: { authorization: "Bearer wrong-token-0123456789abcdef" } })).status).toBe(
      401,
    );
    expect((await fetch(`${server.url}/api/metrics`, { headers: { cookie: member } })).status).toBe(403);
    expect((await fetch(`${server.url}/api/metrics`, { headers: { cookie: admin } })).status).toBe(200);
    const res = await fetch(`${server.url}/api/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    expect(text).toMatch(/^sandboxer_sandboxes\{status="ready"\} 1$/m);
    expect(text).toMatch(/^sandboxer_operations\{kind="create",state="succeeded"\} 1$/m);
    expect(text).toMatch(/^sandboxer_queue_depth 0$/m);
    expect(text).toMatch(/^sandboxer_workers_live 1$/m);
    expect(text).toMatch(
      /^sandboxer_operation_duration_seconds_count\{sandboxer_instance="[^"]+",sandboxer_role="web\+worker",kind="create",result="succeeded"\} 1$/m,
    );
    expect(text).toContain("sandboxer_process_resident_memory_bytes");
  });

  it("keeps the event-loop delay figures without waking an idle server 100 times a second to sample them", async () => {
    const text = await (await fetch(`${server.url}/api/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
    expect(text).toMatch(/^sandboxer_nodejs_eventloop_lag_p99_seconds\{[^}]*\} \d/m);
    // The main thread's voluntary context switches: each is the event loop going back to sleep after
    // a wake-up. Sampling every 10 ms (prom-client's default) alone made 100 a second; what is left
    // is the sampling every 100 ms, the worker's poll (every 200 ms here) and its heartbeat.
    const switches = () => {
      const status = fs.readFileSync(`/proc/${server.process.pid}/task/${server.process.pid}/status`, "utf8");
      return Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status)![1]);
    };
    await new Promise((r) => setTimeout(r, 1_000));
    const before = switches();
    const started = Date.now();
    await new Promise((r) => setTimeout(r, 3_000));
    const perSecond = ((switches() - before) * 1000) / (Date.now() - started);
    console.log(`[measure] idle server main thread: ${perSecond.toFixed(1)} wake-ups a second`);
    expect(perSecond).toBeLessThan(50);
  });
});
