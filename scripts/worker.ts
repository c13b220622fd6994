// npm run worker: a worker process on its own (no web server). Any number may run beside the web
// instances; they share the work through the database (see docs/operations.md). With
// SANDBOXER_WORKER_METRICS_PORT set it serves its own GET /metrics (lib/metrics-listener.ts).
import { checkDataDir, env } from "../lib/env";
import { isSandboxerError } from "../lib/errors";
import { logger, routeConsole } from "../lib/logger";
import { startBackgroundServices } from "../lib/manager/background";
import { hostEntries, listenAcrossProcesses, manager, syncHostsFromConfig } from "../lib/manager/instance";
import { startMetricsListener } from "../lib/metrics-listener";
import { setProcessRole } from "../lib/metrics";
import { applyV8Flags } from "../lib/v8-tuning.mjs";

applyV8Flags(); // Buffer reclaim on Node 24 (lib/v8-tuning.mjs)
routeConsole();
try {
  const e = env();
  checkDataDir(e);
  hostEntries();
  await syncHostsFromConfig();
  setProcessRole("worker");
  listenAcrossProcesses();
  await startBackgroundServices();
  if (e.SANDBOXER_WORKER_METRICS_PORT !== undefined) {
    await startMetricsListener({
      host: e.HOST,
      port: e.SANDBOXER_WORKER_METRICS_PORT,
      token: e.SANDBOXER_METRICS_TOKEN,
      ctx: manager,
      log: logger(),
    });
  }
} catch (e) {
  logger().fatal(isSandboxerError(e) ? e.message : String(e));
  process.exit(1);
}
