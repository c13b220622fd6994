// Prometheus metrics, made to be summed over a fleet.
//
// Two kinds of series:
// - **Fleet gauges** read from the database at scrape time (sandboxes by status, operations by kind
//   and state, queue depth and age, stuck operations, hosts by health, live workers). Every instance
//   could read the same numbers, so only ONE instance exports them: the holder of the
//   "metrics-exporter" lease (Lease table), renewed at each of its scrapes; another instance takes
//   over a lease time after the holder stops being scraped or dies. `sum(...)` over all targets is
//   therefore the fleet's count. `sandboxer_metrics_exporter` says which target holds it.
// - **Process series** (operation durations this process's worker observed, CPU, memory, event loop),
//   labelled `sandboxer_instance` (host:pid) and `sandboxer_role` (web, web+worker, worker).
//
// Served at /api/metrics (token or admin) by web instances, and by `npm run worker` on its own small
// listener (lib/metrics-listener.ts, same auth).
import "server-only";

import os from "node:os";

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

import { dbStatementCount } from "./db/client";
import { countHostsByHealth } from "./db/hosts";
import { acquireLease, liveWorkerCount } from "./db/leases";
import { countOperationsByKindAndState, oldestQueuedAt, queueDepth, stuckOperationCount } from "./db/operations";
import { countSandboxesByStatus } from "./db/sandboxes";
import type { ManagerContext } from "./manager/context";
import { openTeamStreams, teamStreamReads } from "./manager/team-stream";

export type ProcessRole = "web" | "web+worker" | "worker";

interface Metrics {
  /** This process's series (always exported). */
  registry: Registry;
  /** The fleet gauges (exported only while this process holds the exporter lease). */
  fleet: Registry;
  operationDuration: Histogram<"kind" | "result">;
  /** Warm-pool claims by profile and result (hit, move, miss). */
  poolClaims: Counter<"profile" | "result">;
  /** Time a create spent trying to claim a member (hit or miss). */
  poolClaimSeconds: Histogram<"result">;
  /** Wall time of a pool member's create, by result (pooled, failed). */
  poolRefillSeconds: Histogram<"profile" | "result">;
  exporter: Gauge;
  instance: string;
}

type Ctx = Pick<ManagerContext, "db" | "config" | "ssh">;

const globalForMetrics = globalThis as unknown as {
  __sandboxerMetrics?: Metrics;
  __sandboxerRole?: ProcessRole;
  __sandboxerMetricsCtx?: () => Ctx;
};

/** What this process is, for the `sandboxer_role` label (server start and the worker script set it). */
export function setProcessRole(role: ProcessRole): void {
  globalForMetrics.__sandboxerRole = role;
  globalForMetrics.__sandboxerMetrics?.registry.setDefaultLabels({ sandboxer_instance: instanceLabel(), sandboxer_role: role });
}

export function instanceLabel(): string {
  return `${os.hostname()}:${process.pid}`;
}

/** How often the event-loop delay histogram samples (prom-client's eventLoopMonitoringPrecision). */
export const EVENT_LOOP_SAMPLE_MS = 100;

/** The lease that designates the one exporter of fleet gauges. */
export const EXPORTER_LEASE = "metrics-exporter";
/** How long an exporter keeps the role without a scrape: keep Prometheus's scrape interval below it. */
export const EXPORTER_TTL_MS = 60_000;

/**
 * This process's metrics. Fleet gauges read through the context given last (the route, the worker
 * and its listener give theirs); code that only observes durations may call it without one.
 */
export function metrics(bind?: () => Ctx): Metrics {
  if (bind) globalForMetrics.__sandboxerMetricsCtx = bind;
  if (globalForMetrics.__sandboxerMetrics) return globalForMetrics.__sandboxerMetrics;
  const ctx = () => {
    const c = globalForMetrics.__sandboxerMetricsCtx;
    if (!c) throw new Error("metrics: no manager bound yet");
    return c();
  };
  const registry = new Registry();
  registry.setDefaultLabels({ sandboxer_instance: instanceLabel(), sandboxer_role: globalForMetrics.__sandboxerRole ?? "web" });
  // The event-loop delay histogram samples on a timer: prom-client's default (every 10 ms) woke the
  // loop 100 times a second, most of an idle server's CPU (docs/performance.md). Sampled every 100 ms,
  // every stall of 100 ms or more still shows, shorter ones in proportion to their length.
  collectDefaultMetrics({ register: registry, prefix: "sandboxer_", eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  const operationDuration = new Histogram({
    name: "sandboxer_operation_duration_seconds",
    help: "Wall time of operations run by this process's worker (sum over instances for the fleet)",
    labelNames: ["kind", "result"] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800],
    registers: [registry],
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
    name: "sandboxer_event_stream_reads_total",
    help: "Database reads this process made to follow the event table for all its team streams together",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(teamStreamReads());
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
    help: "Creates of a profile with a warm pool, by whether a member was claimed (hit), claimed to be moved to another git ref (move) or not (miss)",
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
  // The SSH pool's counts per build VM (host:port) since this process started.
  const sshCounter = (name: string, help: string, field: "channelsRefused" | "connectionsWedged") =>
    new Counter({
      name,
      help,
      labelNames: ["host"] as const,
      registers: [registry],
      collect() {
        this.reset();
        const hosts = globalForMetrics.__sandboxerMetricsCtx?.().ssh?.pool.stats().hosts ?? {};
        for (const [host, s] of Object.entries(hosts)) this.inc({ host }, s[field]);
      },
    });
  sshCounter(
    "sandboxer_ssh_channels_refused_total",
    "Channel opens a build VM refused (its MaxSessions below the pool's bound); each was retried",
    "channelsRefused",
  );
  sshCounter(
    "sandboxer_ssh_connections_wedged_total",
    "SSH connections closed because they were up but opened no channel for a command within its open timeout",
    "connectionsWedged",
  );
  const exporter = new Gauge({
    name: "sandboxer_metrics_exporter",
    help: "1 on the one instance that exports the fleet gauges (database counts), 0 elsewhere",
    registers: [registry],
  });

  const fleet = new Registry();
  new Gauge({
    name: "sandboxer_operations",
    help: "Operations recorded in the database, by kind and state (succeeded, failed, cancelled, queued, running)",
    labelNames: ["kind", "state"] as const,
    registers: [fleet],
    async collect() {
      this.reset();
      for (const g of await countOperationsByKindAndState(ctx().db)) this.set({ kind: g.kind, state: g.state }, g.count);
    },
  });
  new Gauge({
    name: "sandboxer_queue_depth",
    help: "Operations waiting for a worker",
    registers: [fleet],
    async collect() {
      this.set(await queueDepth(ctx().db));
    },
  });
  new Gauge({
    name: "sandboxer_queue_oldest_age_seconds",
    help: "How long the oldest claimable queued operation has waited (0 when none)",
    registers: [fleet],
    async collect() {
      const oldest = await oldestQueuedAt(ctx().db, new Date());
      this.set(oldest ? Math.max(0, (Date.now() - oldest.getTime()) / 1000) : 0);
    },
  });
  new Gauge({
    name: "sandboxer_operations_stuck",
    help: "Running operations whose lease expired (their worker stopped responding), by kind",
    labelNames: ["kind"] as const,
    registers: [fleet],
    async collect() {
      this.reset();
      for (const g of await stuckOperationCount(ctx().db, new Date())) this.set({ kind: g.kind }, g.count);
    },
  });
  new Gauge({
    name: "sandboxer_sandboxes",
    help: "Sandboxes by status",
    labelNames: ["status"] as const,
    registers: [fleet],
    async collect() {
      this.reset();
      for (const g of await countSandboxesByStatus(ctx().db)) this.set({ status: g.status }, g.count);
    },
  });
  new Gauge({
    name: "sandboxer_hosts",
    help: "Build hosts by health (healthy, unreachable, key_changed, disabled, unknown)",
    labelNames: ["health"] as const,
    registers: [fleet],
    async collect() {
      this.reset();
      for (const g of await countHostsByHealth(ctx().db)) this.set({ health: g.health }, g.count);
    },
  });
  new Gauge({
    name: "sandboxer_workers_live",
    help: "Workers that heartbeated within a lease (all instances and worker processes)",
    registers: [fleet],
    async collect() {
      const c = ctx();
      this.set(await liveWorkerCount(c.db, c.config.workerStaleMs));
    },
  });
  globalForMetrics.__sandboxerMetrics = {
    registry,
    fleet,
    operationDuration,
    poolClaims,
    poolClaimSeconds,
    poolRefillSeconds,
    exporter,
    instance: instanceLabel(),
  };
  return globalForMetrics.__sandboxerMetrics;
}

/**
 * One scrape: this process's series, plus the fleet gauges when this process holds (or takes) the
 * exporter lease. A database error drops the fleet gauges from this scrape, never the process series.
 */
export async function scrape(ctx: () => Ctx): Promise<{ text: string; contentType: string }> {
  const m = metrics(ctx);
  let exporting = false;
  try {
    exporting = await acquireLease(ctx().db, EXPORTER_LEASE, m.instance, EXPORTER_TTL_MS);
  } catch {
    exporting = false;
  }
  m.exporter.set(exporting ? 1 : 0);
  const own = await m.registry.metrics();
  if (!exporting) return { text: own, contentType: m.registry.contentType };
  let fleetText = "";
  try {
    fleetText = await m.fleet.metrics();
  } catch {
    m.exporter.set(0);
    return { text: await m.registry.metrics(), contentType: m.registry.contentType };
  }
  return { text: `${own}\n${fleetText}`, contentType: m.registry.contentType };
}
