// How an SSH target is described and validated: host (never an option-looking value), port (often a
// reverse-tunnel port), user, identity (a key file or the agent) and trust (a pinned fingerprint or a
// known_hosts file; there is no "accept anything"). Shared by ssh2 connections, rsync and the CLI.
import { z } from "zod";

import { ValidationError } from "@/lib/errors";

import { hostPort } from "./errors";
import { normalizeFingerprint } from "./host-keys";

export const DEFAULT_SSH_PORT = 22;
export const DEFAULT_READY_TIMEOUT_MS = 20_000;
export const DEFAULT_KEEPALIVE_INTERVAL_MS = 15_000;
export const DEFAULT_KEEPALIVE_COUNT_MAX = 3;

// Host names and addresses only: a value starting with `-` would become an option of ssh(1) when
// rsync passes it on, and spaces or `@` would change what `user@host:path` means.
const HOST_PATTERN = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$/;
const USER_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const sshIdentitySchema = z.union([
  z.strictObject({
    privateKeyPath: z
      .string()
      .min(1)
      .refine((p) => p.startsWith("/"), "must be an absolute path"),
    /** Name of the environment variable holding the key's passphrase (never the passphrase itself). */
    passphraseEnv: z.string().regex(ENV_NAME_PATTERN, "must be an environment variable name").optional(),
  }),
  z.strictObject({
    agent: z.literal(true),
    /** Defaults to SSH_AUTH_SOCK. */
    agentSocket: z.string().min(1).optional(),
  }),
]);

const knownHostsPathSchema = z
  .string()
  .min(1)
  .refine((p) => p.startsWith("/"), "must be an absolute path");

export const sshTrustSchema = z.union([
  z.strictObject({
    pinnedFingerprint: z.string().transform((fp, ctx) => {
      try {
        return normalizeFingerprint(fp);
      } catch {
        ctx.addIssue({ code: "custom", message: "must look like SHA256:<43 base64 characters>" });
        return z.NEVER;
      }
    }),
    /** Besides the pin: the file's `@revoked` entries still refuse a key the pin would accept. */
    knownHostsPath: knownHostsPathSchema.optional(),
  }),
  z.strictObject({ knownHostsPath: knownHostsPathSchema }),
]);

export const sshConfigSchema = z.strictObject({
  host: z.string().regex(HOST_PATTERN, "must be a host name or IP address"),
  port: z.number().int().min(1).max(65535).default(DEFAULT_SSH_PORT),
  user: z.string().regex(USER_PATTERN, "must be a user name"),
  identity: sshIdentitySchema,
  trust: sshTrustSchema,
  readyTimeoutMs: z.number().int().positive().optional(),
  keepaliveIntervalMs: z.number().int().positive().optional(),
  keepaliveCountMax: z.number().int().positive().optional(),
});

/** Where to connect: a build VM's sshd (port is often a reverse-tunnel port such as 12222). */
export interface SshTarget {
  host: string;
  /** Defaults to 22. */
  port?: number;
  user: string;
}

export type SshIdentity = { privateKeyPath: string; passphraseEnv?: string } | { agent: true; agentSocket?: string };

/**
 * How the host key is trusted. One is required: an unknown key is never accepted. With both, the pin
 * decides and the known_hosts file can only add a revocation (`@revoked`).
 */
export type SshTrust = { pinnedFingerprint: string; knownHostsPath?: string } | { knownHostsPath: string };

export interface SshConfig extends SshTarget {
  identity: SshIdentity;
  trust: SshTrust;
  readyTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
}

export type ResolvedSshConfig = z.output<typeof sshConfigSchema>;

/** Validates an SshConfig (ValidationError with one entry per bad field) and fills in defaults. */
export function parseSshConfig(config: SshConfig): ResolvedSshConfig {
  const parsed = sshConfigSchema.safeParse(config);
  if (parsed.success) return parsed.data;
  const fieldErrors: Record<string, string[]> = Object.create(null) as Record<string, string[]>; // keys come from input ("constructor", "__proto__")
  for (const issue of parsed.error.issues) {
    const key = issue.path.length > 0 ? issue.path.map(String).join(".") : "config";
    (fieldErrors[key] ??= []).push(issue.message);
  }
  throw new ValidationError(`invalid SSH target: ${Object.keys(fieldErrors).join(", ")}`, fieldErrors);
}

/** `user@host:port`, the way every message names a target. */
export function describeTarget(config: { host: string; port?: number; user: string }): string {
  return `${config.user}@${hostPort(config.host, config.port ?? DEFAULT_SSH_PORT)}`;
}
