// Everything a server process runs in the background besides requests: the worker (which also runs
// the reaper under a lease), and a clean stop on SIGTERM/SIGINT so in-flight operations are handed
// back instead of being left to lease expiry.
import "server-only";

import { logger } from "../logger";
import { sweepDeadTempDirs } from "../ssh/temp-dirs";
import { startWorker } from "./instance";

const globalForBg = globalThis as unknown as { __sandboxerBackground?: boolean };

export async function startBackgroundServices(): Promise<void> {
  if (globalForBg.__sandboxerBackground) return;
  globalForBg.__sandboxerBackground = true;
  // A crashed predecessor's SSH temp directories (control sockets, pinned known_hosts) go first.
  const swept = await sweepDeadTempDirs();
  if (swept.length) logger().info({ removed: swept }, "removed temp directories of processes that are gone");
  const worker = await startWorker();
  const stop = (signal: string) => {
    logger().info({ signal }, "stopping worker");
    void worker.stop().finally(() => process.exit(0));
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}
