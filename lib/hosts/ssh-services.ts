// Builds the SSH services extensions use: the process's one pool, the identity for each host, and
// how each host's key is trusted (the registry's pinned key, hosts.yaml's known_hosts file, or both).
// Private keys are referenced by path and never leave the server.
import "server-only";

import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import type { Db } from "../db/client";
import type { SshServices } from "../extensions/base";
import { SshError, SshPool, fingerprintOfKey, type SshIdentity, type SshTrust } from "../ssh";
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
  const entries = new Map(opts.hosts.map((h) => [h.id, h]));
  /** A hosts.yaml host trusted through its known_hosts file alone (no pinned hostKey). */
  const knownHostsOnly = (hostId: string) => {
    const e = entries.get(hostId);
    return e !== undefined && e.hostKey === undefined && e.knownHosts !== undefined;
  };
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
    trustFor(hostId, pinned): SshTrust {
      const knownHostsPath = hostId ? entries.get(hostId)?.knownHosts : undefined;
      // The file decides for a host that has no pin in hosts.yaml: a fingerprint remembered from an
      // earlier connection is not a pin, so a key the team rotates or revokes in the file is followed.
      if (knownHostsPath && (knownHostsOnly(hostId!) || !pinned)) return { knownHostsPath };
      if (!pinned) {
        throw new SshError(
          "SSH_HOST_KEY_UNKNOWN",
          `No pinned host key for ${hostId ? `host "${hostId}"` : "this host"}: pin its fingerprint, or name a known_hosts file in hosts.yaml`,
        );
      }
      return knownHostsPath ? { pinnedFingerprint: pinned, knownHostsPath } : { pinnedFingerprint: pinned };
    },
    async pinnedKey(hostId) {
      const h = await opts.db.buildHost.findUnique({ where: { id: hostId }, select: { hostKey: true } });
      return h?.hostKey ?? null;
    },
    async rememberHostKey(hostId, publicKeyLine) {
      // A host trusted through its known_hosts file shows the fingerprint the file verified last (the
      // API, the CLI's known_hosts and the hosts page need one); it is never used as a pin.
      const fingerprint = knownHostsOnly(hostId) ? fingerprintOfKey(Buffer.from(publicKeyLine.split(" ")[1] ?? "", "base64")) : null;
      // Written only when it differs (SQL's `<>` never matches NULL, hence the explicit null case).
      await opts.db.buildHost.updateMany({
        where: { id: hostId, OR: [{ hostPublicKey: null }, { hostPublicKey: { not: publicKeyLine } }] },
        data: { hostPublicKey: publicKeyLine, ...(fingerprint ? { hostKey: fingerprint } : {}) },
      });
    },
  };
}
