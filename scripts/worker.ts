// npm run worker: a worker process on its own (no web server). Any number may run beside the web
// instances; they share the work through the database (see docs/operations.md).
import { checkDataDir, env } from "../lib/env";
import { isSandboxerError } from "../lib/errors";
import { logger } from "../lib/logger";
import { startBackgroundServices } from "../lib/manager/background";
import { hostEntries, syncHostsFromConfig } from "../lib/manager/instance";

try {
  checkDataDir(env());
  hostEntries();
  await syncHostsFromConfig();
  await startBackgroundServices();
} catch (e) {
  logger().fatal(isSandboxerError(e) ? e.message : String(e));
  process.exit(1);
}
