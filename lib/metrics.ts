// Prometheus metrics. Counts that must agree across instances (operations by kind and result,
// queue depth, sandboxes by status, hosts by health) are read from the database at scrape time;
// durations are observed by this process's worker. Served at /api/metrics (token or admin).
import "server-only";

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

import { dbStatementCount } from "./db/client";
import { countHostsByHealth } from "./db/hosts";
import { liveWorkerCount } from "./db/leases";
import { countOperationsByKindAndState, queueDepth } from "./db/operations";
import { countSandboxesByStatus } from "./db/sandboxes";
import type { Manager } from "./manager/manager";
import { openTeamStreams } from "./manager/team-stream";

interface Metrics {
  registry: Registry;
  operationDuration: Histogram<"kind" | "result">;
  /** Warm-pool claims by profile and result (hit, miss). */
  poolClaims: Counter<"profile" | "result">;
  /** Time a create spent trying to claim a member (hit or miss). */
  poolClaimSeconds: Histogram<"result">;
  /** Wall time of a pool member's create, by result (pooled, failed). */
  poolRefillSeconds: Histogram<"profile" | "result">;
}

const globalForMetrics = globalThis as unknown as { __sandboxerMetrics?: Metrics; __sandboxerMetricsManager?: () => Manager };

/**
 * This process's metrics. DB-backed gauges read through the manager given last (the route and the
 * worker give theirs); code that only observes durations may call it without one.
 */
export function metrics(bind?: () => Manager): Metrics {
  if (bind) globalForMetrics.__sandboxerMetricsManager = bind;
  if (globalForMetrics.__sandboxerMetrics) return globalForMetrics.__sandboxerMetrics;
  const manager = () => {
    const m = globalForMetrics.__sandboxerMetricsManager;
    if (!m) throw new Error("metrics: no manager bound yet");
    return m();
  };
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "sandboxer_" });
  const operationDuration = new Histogram({
    name: "sandboxer_operation_duration_seconds",
    help: "Wall time of operations run by this process's worker",
    labelNames: ["kind", "result"] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800],
    registers: [registry],
  });
  new Gauge({
    name: "sandboxer_operations",
    help: "Operations recorded in the database, by kind and state (succeeded, failed, cancelled, queued, running)",
    labelNames: ["kind", "state"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const g of await countOperationsByKindAndState(manager().db)) this.set({ kind: g.kind, state: g.state }, g.count);
    },
  });
  new Gauge({
    name: "sandboxer_queue_depth",
    help: "Operations waiting for a worker",
    registers: [registry],
    async collect() {
      this.set(await queueDepth(manager().db));
    },
  });
  new Gauge({
    name: "sandboxer_sandboxes",
    help: "Sandboxes by status",
    labelNames: ["status"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const g of await countSandboxesByStatus(manager().db)) this.set({ status: g.status }, g.count);
    },
  });
  new Gauge({
    name: "sandboxer_hosts",
    help: "Build hosts by health (healthy, unreachable, key_changed, disabled, unknown)",
    labelNames: ["health"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const g of await countHostsByHealth(manager().db)) this.set({ health: g.health }, g.count);
    },
  });
  new Gauge({
    name: "sandboxer_workers_live",
    help: "Workers that heartbeated in the last 30 s (all instances)",
    registers: [registry],
    async collect() {
      this.set(await liveWorkerCount(manager().db, 30_000));
    },
  });
  new Gauge({
    name: "sandboxer_event_streams_open",
    help: "Team event streams open on this process (a browser shares one across its tabs)",
    registers: [registry],
    collect() {
      this.set(openTeamStreams());
    },
  });
  new Counter({
    name: "sandboxer_db_statements_total",
    help: "SQL statements this process has sent to the database",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(dbStatementCount());
    },
  });
  const poolClaims = new Counter({
    name: "sandboxer_pool_claims_total",
    help: "Creates of a profile with a warm pool, by whether a member was claimed (hit) or not (miss)",
    labelNames: ["profile", "result"] as const,
    registers: [registry],
  });
  const poolClaimSeconds = new Histogram({
    name: "sandboxer_pool_claim_seconds",
    help: "Time a create spent claiming a warm-pool member (in the request)",
    labelNames: ["result"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  const poolRefillSeconds = new Histogram({
    name: "sandboxer_pool_refill_seconds",
    help: "Wall time of a warm-pool member's create, by result (pooled, failed)",
    labelNames: ["profile", "result"] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800],
    registers: [registry],
  });
  globalForMetrics.__sandboxerMetrics = { registry, operationDuration, poolClaims, poolClaimSeconds, poolRefillSeconds };
  return globalForMetrics.__sandboxerMetrics;
}
