// Builds the SSH services extensions use: the process's one pool, the identity for each host, and
// access to the registry's pinned keys. Private keys are referenced by path and never leave the server.
import "server-only";

import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import type { Db } from "../db/client";
import type { SshServices } from "../extensions/base";
import { SshError, SshPool, type SshIdentity } from "../ssh";
import type { HostEntry } from "./hosts-file";

export function createSshServices(opts: {
  db: Db;
  hosts: HostEntry[];
  defaultIdentity?: string;
  readyTimeoutMs: number;
  pool?: SshPool;
}): SshServices {
  const pool = opts.pool ?? new SshPool({ readyTimeoutMs: opts.readyTimeoutMs });
  const perHost = new Map(opts.hosts.filter((h) => h.identityFile).map((h) => [h.id, h.identityFile!]));
  return {
    pool,
    readyTimeoutMs: opts.readyTimeoutMs,
    identityFor(hostId) {
      const file = (hostId && perHost.get(hostId)) || opts.defaultIdentity;
      if (file) return { privateKeyPath: path.resolve(file) };
      if (process.env.SSH_AUTH_SOCK) return { agent: true } as SshIdentity;
      const fallback = path.join(os.homedir(), ".ssh", "id_ed25519");
      if (fs.existsSync(fallback)) return { privateKeyPath: fallback };
      throw new SshError(
        "SSH_KEY_UNREADABLE",
        `No SSH identity for ${hostId ? `host "${hostId}"` : "this host"}: set identityFile in hosts.yaml or SANDBOXER_SSH_IDENTITY, or run an ssh-agent`,
      );
    },
    async pinnedKey(hostId) {
      const h = await opts.db.buildHost.findUnique({ where: { id: hostId }, select: { hostKey: true } });
      return h?.hostKey ?? null;
    },
    async rememberHostKey(hostId, publicKeyLine) {
      // Written only when it differs (SQL's `<>` never matches NULL, hence the explicit null case).
      await opts.db.buildHost.updateMany({
        where: { id: hostId, OR: [{ hostPublicKey: null }, { hostPublicKey: { not: publicKeyLine } }] },
        data: { hostPublicKey: publicKeyLine },
      });
    },
  };
}
