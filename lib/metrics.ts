// Prometheus metrics. Counts that must agree across instances (operations by kind and result,
// queue depth, sandboxes by status, hosts by health) are read from the database at scrape time;
// durations are observed by this process's worker. Served at /api/metrics (token or admin).
import "server-only";

import { Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

import type { Manager } from "./manager/manager";

interface Metrics {
  registry: Registry;
  operationDuration: Histogram<"kind" | "result">;
}

const globalForMetrics = globalThis as unknown as { __sandboxerMetrics?: Metrics };

/** This process's metrics; DB-backed gauges are bound to `manager` on first call. */
export function metrics(manager: () => Manager): Metrics {
  if (globalForMetrics.__sandboxerMetrics) return globalForMetrics.__sandboxerMetrics;
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
      const groups = await manager().db.operation.groupBy({ by: ["kind", "state"], _count: { _all: true } });
      for (const g of groups) this.set({ kind: g.kind, state: g.state }, g._count._all);
    },
  });
  new Gauge({
    name: "sandboxer_queue_depth",
    help: "Operations waiting for a worker",
    registers: [registry],
    async collect() {
      this.set(await manager().db.operation.count({ where: { state: "queued" } }));
    },
  });
  new Gauge({
    name: "sandboxer_sandboxes",
    help: "Sandboxes by status",
    labelNames: ["status"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const groups = await manager().db.sandbox.groupBy({ by: ["status"], _count: { _all: true } });
      for (const g of groups) this.set({ status: g.status }, g._count._all);
    },
  });
  new Gauge({
    name: "sandboxer_hosts",
    help: "Build hosts by health (healthy, unreachable, key_changed, disabled, unknown)",
    labelNames: ["health"] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const groups = await manager().db.buildHost.groupBy({ by: ["health"], _count: { _all: true } });
      for (const g of groups) this.set({ health: g.health }, g._count._all);
    },
  });
  new Gauge({
    name: "sandboxer_workers_live",
    help: "Workers that heartbeated in the last 30 s (all instances)",
    registers: [registry],
    async collect() {
      this.set(await manager().db.worker.count({ where: { heartbeatAt: { gt: new Date(Date.now() - 30_000) } } }));
    },
  });
  globalForMetrics.__sandboxerMetrics = { registry, operationDuration };
  return globalForMetrics.__sandboxerMetrics;
}
