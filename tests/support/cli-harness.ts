// Runs the real `sandboxer` command (node bin/sandboxer.mjs) as a child process, the way a person or
// a CI job does: its own config file (SANDBOXER_CONFIG) and HOME in a temp dir, captured stdout and
// stderr, optional stdin, the exit code, and a way to press Ctrl-C (SIGINT) mid-run. `startCliWorld`
// adds everything the CLI talks to: real build VMs (sshd on loopback), a hosts.yaml pinning their
// keys, the built app served by server.mjs (as npm start runs it) on a fresh database, a member with an API token.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { stringify } from "yaml";

import { createToken } from "@/lib/auth/tokens";
import { isTransient, parseStatus } from "@/lib/manager/states";
import type { HostEntry } from "@/lib/hosts/hosts-file";

import { REPO_ROOT, signUp, startAppServer, type AppServer } from "./app-server";
import { startBuildVms, stopBuildVms, type BuildVms } from "./build-vms";
import { createTestDatabase, type TestDatabase, type TestProvider } from "./databases";
import { writeConfigDir } from "./manager-harness";
import { hostEntryFor } from "./vm-harness";

export const CLI_BIN = path.join(REPO_ROOT, "bin", "sandboxer.mjs");

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout+stderr match `pattern` (rejects on exit or timeout, with the output so far). */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Presses Ctrl-C: SIGINT to the CLI process (only to it, like `kill -INT <pid>`). */
  interrupt(signal?: NodeJS.Signals): void;
  result: Promise<CliResult>;
}

export interface CliOptions {
  /** Layered over a minimal environment (PATH, a temp HOME, SANDBOXER_CONFIG). */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Written to stdin, which is then closed; stdin is closed at once without it. */
  input?: string;
  timeoutMs?: number;
}

export interface CliEnv {
  /** The CLI's config file (does not exist before `login`). */
  configPath: string;
  home: string;
  dir: string;
  env: Record<string, string>;
  run(args: string[], opts?: CliOptions): Promise<CliResult>;
  start(args: string[], opts?: CliOptions): CliProcess;
  cleanup(): void;
}

/** A private place for one CLI user: config file path and HOME (so no ~/.ssh/config of the machine applies). */
export function createCliEnv(extra: Record<string, string> = {}): CliEnv {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sandboxer-cli-"));
  const home = path.join(dir, "home");
  fs.mkdirSync(home, { mode: 0o700 });
  const configPath = path.join(dir, "config", "sandboxer.json");
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: home,
    SANDBOXER_CONFIG: configPath,
    NO_COLOR: "1",
    ...extra,
  };
  const cliEnv: CliEnv = {
    configPath,
    home,
    dir,
    env,
    start: (args, opts = {}) => startCli(args, { ...opts, env: { ...env, ...opts.env } }),
    run: (args, opts = {}) => startCli(args, { ...opts, env: { ...env, ...opts.env } }).result,
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
  return cliEnv;
}

export function startCli(args: string[], opts: CliOptions = {}): CliProcess {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.env ?? {})) if (v !== undefined) env[k] = v;
  const started = performance.now();
  const child = spawn(process.execPath, [CLI_BIN, ...args], {
    cwd: opts.cwd ?? REPO_ROOT,
    env: env as NodeJS.ProcessEnv,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const waiters = new Set<() => void>();
  const changed = () => waiters.forEach((w) => w());
  child.stdout!.on("data", (b: Buffer) => ((stdout += b.toString()), changed()));
  child.stderr!.on("data", (b: Buffer) => ((stderr += b.toString()), changed()));
  child.stdin!.on("error", () => {}); // the CLI may exit before reading it
  child.stdin!.end(opts.input ?? "");
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const killer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  let exited = false;
  const result = new Promise<CliResult>((resolve) => {
    child.once("close", (code, signal) => {
      exited = true;
      clearTimeout(killer);
      changed();
      resolve({ code, signal, stdout, stderr, durationMs: performance.now() - started });
    });
  });
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    result,
    interrupt: (signal = "SIGINT") => void child.kill(signal),
    waitForOutput(pattern, waitMs = 60_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pattern.test(stdout + stderr)) return done(() => resolve());
          if (exited)
            return done(() => reject(new Error(`CLI exited before printing ${pattern}:\n--- stdout\n${stdout}\n--- stderr\n${stderr}`)));
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`no ${pattern} within ${waitMs} ms:\n--- stdout\n${stdout}\n--- stderr\n${stderr}`))),
          waitMs,
        );
        const done = (fn: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          fn();
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** Two build VMs (vm1 on 127.0.0.1, vm2 on 127.0.0.2) on ports the OS picks. */
export function startLoopbackVms(): Promise<BuildVms> {
  return startBuildVms({
    vms: [
      { name: "vm1", address: "127.0.0.1" },
      { name: "vm2", address: "127.0.0.2" },
    ],
  });
}

export interface CliWorld {
  vms: BuildVms;
  database: TestDatabase;
  server: AppServer;
  configDir: string;
  /** A member's API token, and their user id. */
  token: string;
  userId: string;
  /** A logged-in CLI user (config written by `sandboxer login`). */
  cli: CliEnv;
  close(): Promise<void>;
}

/**
 * The standard profiles: ext.vm-packer on vm1 (and on any "test-vm" host), one whose host pins the
 * wrong key (fails fast), and ext.local (not reachable over SSH).
 */
export const WORLD_PROFILES: Record<string, Record<string, unknown>> = {
  vm: { extension: "ext.vm-packer", title: "Test VM workspace", params: { host: "host-vm1" } },
  "vm-any": { extension: "ext.vm-packer", title: "Any test VM", params: { hostLabel: "test-vm" } },
  "vm-bad-key": { extension: "ext.vm-packer", title: "Wrong pinned key", params: { host: "host-badkey" } },
  local: { extension: "ext.local", title: "Local scratch", params: { seed: null } },
};

export async function startCliWorld(
  opts: { provider?: TestProvider; profiles?: Record<string, Record<string, unknown>> } = {},
): Promise<CliWorld> {
  // Free ports, not the standard 12222/2222: test files run side by side, and a fixed port checked
  // for being free can still be taken by another file before its sshd binds it.
  const vms = await startLoopbackVms();
  const database = await createTestDatabase(opts.provider ?? "postgresql");
  const configDir = writeConfigDir({ includeRepoManifests: true, manifests: [], profiles: opts.profiles ?? WORLD_PROFILES });
  const host = (name: string, extra: Partial<HostEntry> = {}) => hostEntryFor(vms.vm(name), extra);
  const hostsFile = path.join(configDir, "hosts.yaml");
  fs.writeFileSync(
    hostsFile,
    stringify({
      apiVersion: "sandboxer.dev/v1",
      // host-badkey is vm1's sshd with vm2's fingerprint pinned: every connection is refused.
      hosts: [
        host("vm1"),
        host("vm2"),
        host("vm1", { id: "host-badkey", title: "Wrong key", labels: [], hostKey: vms.vm("vm2").hostKeyFingerprint }),
      ],
    }),
  );
  const server = await startAppServer({
    env: {
      DATABASE_URL: database.config.url,
      SANDBOXER_CONFIG_DIR: configDir,
      SANDBOXER_HOSTS_FILE: hostsFile,
      SANDBOXER_SSH_IDENTITY: vms.identityFile,
      SANDBOXER_LOCAL_WORKSPACE_ROOT: path.join(configDir, "workspaces"),
      SANDBOXER_QUOTA_ACTIVE: "0",
      // Hosts found down or with a changed key make creates wait; in tests they give up quickly.
      SANDBOXER_QUEUE_TIMEOUT: "3s",
    },
  });
  await signUp(server.url, `admin-${process.pid}@cli.test`);
  await signUp(server.url, `alice-${process.pid}@cli.test`);
  const userId = (await database.db.user.findUniqueOrThrow({ where: { email: `alice-${process.pid}@cli.test` } })).id;
  const { token } = await createToken(database.db, userId, {
    name: "cli-tests",
    scopes: ["full"],
    expiresAt: new Date(Date.now() + 86_400_000),
  });
  const cli = createCliEnv();
  const login = await cli.run(["login", "--url", server.url, "--token", token]);
  if (login.code !== 0) throw new Error(`login failed (${login.code}): ${login.stderr}`);
  return {
    vms,
    database,
    server,
    configDir,
    token,
    userId,
    cli,
    async close() {
      try {
        await server.stop();
        await database.drop();
      } finally {
        await stopBuildVms(vms);
      }
      cli.cleanup();
      fs.rmSync(configDir, { recursive: true, force: true });
    },
  };
}

/** The sandbox id `sandboxer run`/`create` announced on stderr ("creating <id> …"). */
export function announcedId(stderr: string): string {
  const id = findAnnouncedId(stderr);
  if (!id) throw new Error(`no sandbox id in:\n${stderr}`);
  return id;
}

/** The same, or null when the command stopped before its create was announced. */
export function findAnnouncedId(stderr: string): string | null {
  return /(?:creating|Creating) ([a-z][a-z0-9]{7,31})\b/.exec(stderr)?.[1] ?? null;
}

/**
 * The status a sandbox settles in once nothing more is under way (`run` queues its destroy and exits:
 * the server's worker finishes it a moment later).
 */
export async function settledStatus(w: CliWorld, id: string, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    last = (await w.database.db.sandbox.findUniqueOrThrow({ where: { id } })).status;
    if (!isTransient(parseStatus(last))) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sandbox ${id} is still ${last} after ${timeoutMs} ms`);
}
