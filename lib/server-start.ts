// What a web server process does at start: check the environment (one clear error and exit on a bad
// value), hand the server entry its front door (client address, security headers), start the SSH
// gateway unless SANDBOXER_SSH_GATEWAY=off, then this instance's worker unless SANDBOXER_WORKER=off
// (web-only instances).
import "server-only";

import { checkDataDir, env, restrictDataFiles } from "./env";
import { isSandboxerError } from "./errors";
import { createFrontDoor, installFrontDoor } from "./http/front-door";
import { logger, routeConsole } from "./logger";

export async function onServerStart(): Promise<void> {
  routeConsole();
  try {
    const e = env();
    // Before anything awaits: server.mjs serves requests only once the app has handed it the door.
    const door = createFrontDoor({
      publicUrl: e.publicUrl,
      trustedProxies: e.SANDBOXER_TRUSTED_PROXIES,
      dev: e.NODE_ENV === "development",
    });
    if (!installFrontDoor(door)) {
      logger().warn(
        "started without server.mjs (bare `next start`?): responses lack the security headers and client addresses are unknown; start with `npm start`",
      );
    }
    checkDataDir(e);
    // One server per embedded database (npm start's migrate step checked already; this records us).
    const { recordServer } = await import("./instance-lock");
    recordServer(e);
    const { initDb } = await import("./db/client");
    await initDb();
    const tightened = restrictDataFiles(e);
    if (tightened.length) logger().info({ paths: tightened }, "data files were readable by others: now 0700/0600");
    const { hostEntries, syncHostsFromConfig } = await import("./manager/instance");
    hostEntries(); // an invalid hosts.yaml stops the server here, naming file, line and field
    await syncHostsFromConfig();
    // The SSH gateway listens before anything else starts: a taken port is one line and an exit.
    const { startGatewayFromEnv } = await import("./gateway/instance");
    await startGatewayFromEnv();
    const { setProcessRole, instanceLabel } = await import("./metrics");
    setProcessRole(e.SANDBOXER_WORKER ? "web+worker" : "web");
    // Instances sharing the database compare their public URLs; a mismatch is logged as an error.
    const { listenAcrossProcesses, manager } = await import("./manager/instance");
    const { watchPeers } = await import("./manager/peers");
    const m = manager();
    listenAcrossProcesses();
    await watchPeers(m, {
      id: instanceLabel(),
      machineId: m.config.machineId,
      publicUrl: e.publicUrl,
      role: e.SANDBOXER_WORKER ? "web+worker" : "web",
    });
    if (!e.SANDBOXER_WORKER) {
      logger().info("worker disabled (SANDBOXER_WORKER=off): this instance serves the web only");
      return;
    }
    const { startBackgroundServices } = await import("./manager/background");
    await startBackgroundServices();
  } catch (err) {
    logger().fatal(isSandboxerError(err) ? err.message : String(err));
    process.exit(1);
  }
}
