// npm run gateway: the SSH gateway on its own (no web server, no worker). Any number may run beside
// the web instances on one database; behind one address they must share SANDBOXER_SSH_GATEWAY_HOST_KEY.
import { checkDataDir, env } from "../lib/env";
import { isSandboxerError } from "../lib/errors";
import { startGatewayFromEnv } from "../lib/gateway/instance";
import { logger } from "../lib/logger";
import { hostEntries, syncHostsFromConfig } from "../lib/manager/instance";
import { applyV8Flags } from "../lib/v8-tuning.mjs";

applyV8Flags(); // Buffer reclaim on Node 24, which the relay's Buffers need most (lib/v8-tuning.mjs)
try {
  checkDataDir(env(), { create: true });
  hostEntries();
  await syncHostsFromConfig();
  const g = await startGatewayFromEnv();
  if (!g) {
    logger().fatal("SANDBOXER_SSH_GATEWAY is off: nothing to run");
    process.exit(1);
  }
  // Sessions are ended and recorded, then the process exits (pooled VM connections would keep it alive).
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => void g.stop().finally(() => process.exit(0)));
} catch (e) {
  logger().fatal(isSandboxerError(e) ? e.message : String(e));
  process.exit(1);
}
