// The environment, parsed once with zod. Every variable sand-boxer reads is here, with its default;
// `.env.example` documents the same list. An invalid value stops the process with one message that
// names the variable — nothing else in lib/ reads process.env.
import "server-only";

import fs from "node:fs";
import path from "node:path";

import { z } from "zod";

import { ConfigError } from "./errors";
import { parseDuration } from "./duration";
import { parseTrustedProxies } from "./http/client-address";

const bool = (def: boolean) =>
  z
    .enum(["1", "0", "true", "false", "on", "off", "yes", "no"])
    .default(def ? "on" : "off")
    .transform((v) => ["1", "true", "on", "yes"].includes(v));

const duration = (def: string) =>
  z
    .string()
    .default(def)
    .transform((v, ctx) => {
      try {
        return parseDuration(v);
      } catch (e) {
        ctx.addIssue({ code: "custom", message: (e as Error).message });
        return z.NEVER;
      }
    });

const int = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);

const portRange = z
  .string()
  .default("12200-12999")
  .transform((v, ctx) => {
    const m = /^(\d{1,5})-(\d{1,5})$/.exec(v.trim());
    const lo = Number(m?.[1]);
    const hi = Number(m?.[2]);
    if (!m || lo < 1 || hi > 65535 || lo > hi) {
      ctx.addIssue({ code: "custom", message: 'expected "<low>-<high>" within 1-65535, e.g. "12200-12999"' });
      return z.NEVER;
    }
    return { low: lo, high: hi };
  });

const schema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  /** Default: the embedded database in the data directory, file:<SANDBOXER_DATA_DIR>/sandboxer.db. */
  DATABASE_URL: z.string().optional(),
  SANDBOXER_DB_POOL: int(10, 1, 200),
  SANDBOXER_DATA_DIR: z.string().min(1).default("./data"),
  SANDBOXER_CONFIG_DIR: z.string().min(1).default("."),
  /** Next.js's build directory (next.config.ts reads it too); the CLI bundle is built into it. */
  SANDBOXER_DIST_DIR: z.string().min(1).default(".next"),
  SANDBOXER_HOSTS_FILE: z.string().optional(),
  SANDBOXER_LOCAL_WORKSPACE_ROOT: z.string().min(1).optional(),
  SANDBOXER_PUBLIC_URL: z.string().url().optional(),
  HOST: z.string().default("127.0.0.1"),
  PORT: int(3000, 1, 65535),
  SANDBOXER_WORKER: bool(true),
  SANDBOXER_WORKER_CONCURRENCY: int(16, 1, 256),
  SANDBOXER_WORKER_POLL: duration("1s"),
  SANDBOXER_CANCEL_POLL: duration("1s"),
  SANDBOXER_LEASE: duration("30s"),
  SANDBOXER_MAX_ATTEMPTS: int(3, 1, 20),
  SANDBOXER_CREATE_TIMEOUT: duration("30m"),
  SANDBOXER_DESTROY_TIMEOUT: duration("10m"),
  SANDBOXER_QUEUE_TIMEOUT: duration("1h"),
  SANDBOXER_HEALTH_INTERVAL: duration("1m"),
  /** A build host with less free space under its workspace root gets no new sandboxes (MiB; 0: no floor). */
  SANDBOXER_HOST_MIN_FREE_MB: int(1024, 0, 10_000_000),
  SANDBOXER_SSH_IDENTITY: z.string().optional(),
  SANDBOXER_SSH_CONNECT_TIMEOUT: duration("10s"),
  SANDBOXER_TUNNEL_PORTS: portRange,
  SANDBOXER_SSH_GATEWAY: z.string().default("127.0.0.1:2022"),
  SANDBOXER_SSH_GATEWAY_PUBLIC: z.string().optional(),
  SANDBOXER_SSH_GATEWAY_HOST_KEY: z.string().optional(),
  /** An SSH gateway connection that has not authenticated by then is closed. */
  SANDBOXER_SSH_GATEWAY_HANDSHAKE_TIMEOUT: duration("10s"),
  SANDBOXER_SSH_GATEWAY_MAX_SESSIONS_PER_PERSON: int(20, 1, 10_000),
  SANDBOXER_QUOTA_ACTIVE: int(5, 0, 10_000),
  SANDBOXER_MAX_STREAMS_PER_PERSON: int(16, 1, 10_000),
  SANDBOXER_POOL_REFILL_MAX: int(4, 1, 256),
  SANDBOXER_POOL_REFILL_PER_HOST: int(2, 1, 256),
  SANDBOXER_POOL_REFILL_DELAY: duration("2s"),
  /** helper: rsync is started by a small helper process (lib/ssh/spawner.ts); off: forked from the server. */
  SANDBOXER_SPAWNER: z.enum(["helper", "off"]).default("helper"),
  SANDBOXER_METRICS_TOKEN: z.string().min(16).optional(),
  /** How long a new API token lasts when its creator does not say (at most SANDBOXER_TOKEN_TTL_MAX). */
  SANDBOXER_TOKEN_TTL_DEFAULT: duration("90d"),
  /** The longest lifetime a new API token may ask for. */
  SANDBOXER_TOKEN_TTL_MAX: duration("365d"),
  SANDBOXER_WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  BETTER_AUTH_SECRET: z.string().min(32).optional(),
  BETTER_AUTH_URL: z.string().url().optional(),
  SANDBOXER_TRUSTED_ORIGINS: z.string().optional(),
  /** Reverse proxies whose X-Forwarded-For is believed (IPs and CIDRs); none by default. */
  SANDBOXER_TRUSTED_PROXIES: z
    .string()
    .optional()
    .transform((v, ctx) => {
      try {
        return parseTrustedProxies(v);
      } catch (e) {
        ctx.addIssue({ code: "custom", message: (e as Error).message.replace(/^SANDBOXER_TRUSTED_PROXIES: /, "") });
        return z.NEVER;
      }
    }),
  SANDBOXER_OIDC_ISSUER: z.string().url().optional(),
  SANDBOXER_OIDC_CLIENT_ID: z.string().optional(),
  SANDBOXER_OIDC_CLIENT_SECRET: z.string().optional(),
  SANDBOXER_OIDC_NAME: z.string().default("Single sign-on"),
  SANDBOXER_ALLOW_SIGNUP: bool(true),
  LOG_FORMAT: z.enum(["json", "pretty"]).optional(),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

export type DatabaseConfig = { provider: "sqlite"; url: string; file: string } | { provider: "postgresql"; url: string };

export type Env = Omit<z.infer<typeof schema>, "DATABASE_URL"> & {
  database: DatabaseConfig;
  dataDir: string;
  configDir: string;
  /** The build directory, absolute. */
  distDir: string;
  hostsFile: string;
  localWorkspaceRoot: string;
  publicUrl: string;
  /** Where the SSH gateway listens; null when SANDBOXER_SSH_GATEWAY=off. */
  sshGateway: HostPortAddress | null;
  /** What people connect to (SANDBOXER_SSH_GATEWAY_PUBLIC, else the public URL's host and the listen port). */
  sshGatewayPublic: HostPortAddress | null;
};

export interface HostPortAddress {
  host: string;
  port: number;
}

/** Parses `host:port` or `[v6]:port` (the variable's name goes into the error). */
export function parseHostPort(raw: string, variable: string): HostPortAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s\[\]]+)):(\d{1,5})$/.exec(raw.trim());
  const port = Number(m?.[3]);
  if (!m || port < 0 || port > 65535) {
    throw new ConfigError(`Invalid environment: ${variable}: "${raw}" is not host:port (e.g. 127.0.0.1:2022 or [::1]:2022)`);
  }
  return { host: (m[1] ?? m[2])!, port };
}

/** Parses a DATABASE_URL: `file:<path>` (SQLite, relative to `cwd`) or `postgres(ql)://…`. */
export function parseDatabaseUrl(raw: string, cwd: string): DatabaseConfig {
  const url = raw.trim();
  if (url.startsWith("file:")) {
    const file = url.slice("file:".length).replace(/^\/\/(?=\/)/, "");
    if (!file || file.endsWith("/")) {
      throw new ConfigError(`DATABASE_URL: "${raw}" names no database file (expected e.g. file:./data/sandboxer.db)`);
    }
    const abs = path.resolve(cwd, file);
    return { provider: "sqlite", url: `file:${abs}`, file: abs };
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ConfigError(`DATABASE_URL: "${redactUrl(raw)}" is not a valid PostgreSQL URL`);
    }
    if (!parsed.hostname && !parsed.searchParams.get("host")) {
      throw new ConfigError(`DATABASE_URL: "${redactUrl(raw)}" has no host`);
    }
    if (parsed.pathname.length <= 1) {
      throw new ConfigError(`DATABASE_URL: "${redactUrl(raw)}" names no database (expected …/<database>)`);
    }
    return { provider: "postgresql", url };
  }
  throw new ConfigError(`DATABASE_URL: "${redactUrl(raw)}" is neither file:<path> (embedded SQLite) nor postgresql://… (PostgreSQL)`);
}

/** A URL with its password replaced, for messages and logs. */
export function redactUrl(raw: string): string {
  return raw.replace(/(\/\/[^:/@]+:)[^@/]*@/, "$1***@");
}

function issuesToMessage(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join(".") || "(environment)"}: ${i.message}`).join("; ");
}

/**
 * Parses an environment. Pure apart from resolving paths against `cwd`; it creates nothing.
 * `checkDataDir` separately verifies the data directory can be written.
 */
export function parseEnv(source: Record<string, string | undefined>, cwd = process.cwd()): Env {
  // Empty strings count as unset, as in most .env loaders.
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ""));
  const result = schema.safeParse(cleaned);
  if (!result.success) throw new ConfigError(`Invalid environment: ${issuesToMessage(result.error)}`);
  const { DATABASE_URL, ...rest } = result.data;
  const dataDir = path.resolve(cwd, rest.SANDBOXER_DATA_DIR);
  const configDir = path.resolve(cwd, rest.SANDBOXER_CONFIG_DIR);
  // The embedded database moves with the data directory unless DATABASE_URL names one itself.
  const database = parseDatabaseUrl(DATABASE_URL ?? `file:${path.join(dataDir, "sandboxer.db")}`, cwd);
  if (rest.SANDBOXER_OIDC_ISSUER && !(rest.SANDBOXER_OIDC_CLIENT_ID && rest.SANDBOXER_OIDC_CLIENT_SECRET)) {
    throw new ConfigError(
      "Invalid environment: SANDBOXER_OIDC_CLIENT_ID and SANDBOXER_OIDC_CLIENT_SECRET are required when SANDBOXER_OIDC_ISSUER is set",
    );
  }
  if (rest.NODE_ENV === "production" && rest.BETTER_AUTH_SECRET === undefined && database.provider === "postgresql") {
    // Several instances share PostgreSQL: a per-instance generated secret would sign cookies the others reject.
    throw new ConfigError("Invalid environment: BETTER_AUTH_SECRET is required with PostgreSQL (at least 32 characters)");
  }
  if (rest.SANDBOXER_TOKEN_TTL_DEFAULT > rest.SANDBOXER_TOKEN_TTL_MAX) {
    throw new ConfigError("Invalid environment: SANDBOXER_TOKEN_TTL_DEFAULT is longer than SANDBOXER_TOKEN_TTL_MAX");
  }
  if (rest.SANDBOXER_TOKEN_TTL_DEFAULT < 60_000) {
    throw new ConfigError("Invalid environment: SANDBOXER_TOKEN_TTL_DEFAULT must be at least 1m");
  }
  const gatewayRaw = rest.SANDBOXER_SSH_GATEWAY.trim();
  const sshGateway = /^(off|false|0|no)$/i.test(gatewayRaw) ? null : parseHostPort(gatewayRaw, "SANDBOXER_SSH_GATEWAY");
  const publicUrl = rest.SANDBOXER_PUBLIC_URL ?? rest.BETTER_AUTH_URL ?? `http://${rest.HOST}:${rest.PORT}`;
  const sshGatewayPublic = !sshGateway
    ? null
    : rest.SANDBOXER_SSH_GATEWAY_PUBLIC
      ? parseHostPort(rest.SANDBOXER_SSH_GATEWAY_PUBLIC, "SANDBOXER_SSH_GATEWAY_PUBLIC")
      : { host: new URL(publicUrl).hostname.replace(/^\[|\]$/g, ""), port: sshGateway.port };
  return {
    ...rest,
    sshGateway,
    sshGatewayPublic,
    database,
    dataDir,
    configDir,
    distDir: path.resolve(cwd, rest.SANDBOXER_DIST_DIR),
    hostsFile: path.resolve(configDir, rest.SANDBOXER_HOSTS_FILE ?? "hosts.yaml"),
    localWorkspaceRoot: path.resolve(cwd, rest.SANDBOXER_LOCAL_WORKSPACE_ROOT ?? path.join(dataDir, "workspaces")),
    publicUrl,
  };
}

/**
 * Verifies that the data directory (and the SQLite file's directory) exist and are writable, or can be
 * created. Creates nothing unless `create` is set and every check passed.
 */
export function checkDataDir(env: Env, { create = false } = {}): void {
  const dirs = [env.dataDir];
  if (env.database.provider === "sqlite") dirs.push(path.dirname(env.database.file));
  for (const dir of dirs) {
    const existing = nearestExisting(dir);
    const variable = dir === env.dataDir ? "SANDBOXER_DATA_DIR" : "DATABASE_URL";
    if (existing !== dir && !fs.statSync(existing).isDirectory()) {
      throw new ConfigError(`${variable}: cannot create ${dir}: ${existing} is not a directory`);
    }
    if (existing === dir && !fs.statSync(dir).isDirectory()) {
      throw new ConfigError(`${variable}: ${dir} is not a directory`);
    }
    try {
      // A real probe, not access(2): root passes access() even on a read-only file system.
      fs.rmdirSync(fs.mkdtempSync(path.join(existing, ".sandboxer-write-probe-")));
    } catch {
      throw new ConfigError(
        existing === dir
          ? `${variable}: the directory ${dir} is not writable by this user`
          : `${variable}: cannot create ${dir}: ${existing} is not writable by this user`,
      );
    }
  }
  if (create) for (const dir of dirs) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/**
 * The data directory holds password hashes, sessions, the audit log and the generated auth secret:
 * only this account may enter it (0700) and read the embedded database (0600, with its WAL files).
 * Tightens what is looser (a directory made by hand, an earlier version's 0644); never loosens.
 * Returns the paths it changed. Files owned by someone else are left alone (chmod would fail).
 */
export function restrictDataFiles(env: Env): string[] {
  const changed: string[] = [];
  const tighten = (p: string, mode: number) => {
    try {
      const st = fs.statSync(p);
      if ((st.mode & 0o777 & ~mode) === 0) return;
      if (typeof process.getuid === "function" && st.uid !== process.getuid()) return;
      fs.chmodSync(p, st.mode & 0o777 & mode);
      changed.push(p);
    } catch {
      /* missing: nothing to tighten */
    }
  };
  tighten(env.dataDir, 0o700);
  if (env.database.provider === "sqlite") {
    for (const suffix of ["", "-wal", "-shm", "-journal"]) tighten(`${env.database.file}${suffix}`, 0o600);
  }
  return changed;
}

function nearestExisting(dir: string): string {
  let cur = dir;
  while (!fs.existsSync(cur)) {
    const parent = path.dirname(cur);
    if (parent === cur) return cur;
    cur = parent;
  }
  return cur;
}

const globalForEnv = globalThis as unknown as { __sandboxerEnv?: Env };

/** The process's environment, parsed on first use. */
export function env(): Env {
  globalForEnv.__sandboxerEnv ??= parseEnv(process.env);
  return globalForEnv.__sandboxerEnv;
}
