// The process's SSH gateway, started from the environment next to the worker (lib/server-start.ts)
// or on its own (`npm run gateway`), and what the dashboard and API show about it.
import "server-only";

import { dbReady } from "../db/client";
import { env } from "../env";
import { logger } from "../logger";
import { machineIdOf } from "../machine-id";
import { manager } from "../manager/instance";
import { SshGateway } from "./gateway";
import { loadGatewayHostKey } from "./host-key";

const globalForGateway = globalThis as unknown as { __sandboxerGateway?: SshGateway };

/** Starts the gateway unless SANDBOXER_SSH_GATEWAY=off; a taken port throws one GatewayError line. */
export async function startGatewayFromEnv(): Promise<SshGateway | null> {
  const e = env();
  if (!e.sshGateway) {
    logger().info("ssh gateway disabled (SANDBOXER_SSH_GATEWAY=off)");
    return null;
  }
  if (globalForGateway.__sandboxerGateway) return globalForGateway.__sandboxerGateway;
  const db = await dbReady();
  const m = manager();
  if (!m.ssh) return null;
  const hostKey = loadGatewayHostKey({ file: e.SANDBOXER_SSH_GATEWAY_HOST_KEY, dataDir: e.dataDir });
  const gateway = new SshGateway({
    db,
    ssh: m.ssh,
    logger: logger().child({ component: "ssh-gateway" }),
    hostKey,
    listen: e.sshGateway,
    machineId: machineIdOf(e.dataDir),
    localExtensions: [...m.catalog.extensions.values()].filter((x) => x.machineLocal).map((x) => x.id),
    limits: {
      handshakeTimeoutMs: e.SANDBOXER_SSH_GATEWAY_HANDSHAKE_TIMEOUT,
      maxSessionsPerPerson: e.SANDBOXER_SSH_GATEWAY_MAX_SESSIONS_PER_PERSON,
    },
  });
  await gateway.start();
  globalForGateway.__sandboxerGateway = gateway;
  const stop = (): void => void gateway.stop();
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  return gateway;
}

export interface GatewayInfo {
  /** The command people run, e.g. `ssh -p 2022 <id>@host`. */
  host: string;
  port: number;
  fingerprint: string;
  /** `[host]:port ssh-ed25519 AAAA…` for a known_hosts file. */
  knownHostsLine: string;
}

/** What people need to reach the gateway, or null when it is off. */
export function gatewayInfo(): GatewayInfo | null {
  const e = env();
  if (!e.sshGateway || !e.sshGatewayPublic) return null;
  const key = loadGatewayHostKey({ file: e.SANDBOXER_SSH_GATEWAY_HOST_KEY, dataDir: e.dataDir });
  const { host, port } = e.sshGatewayPublic;
  const name = port === 22 ? host : `[${host}]:${port}`;
  return { host, port, fingerprint: key.fingerprint, knownHostsLine: `${name} ${key.publicKeyLine}` };
}
