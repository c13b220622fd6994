// Starts the built app as `npm start` serves it (server.mjs: Next behind the front door that sets the
// client address and the security headers) as a child process for API, CLI, auth and browser tests,
// with its own data directory, database and config directory, on a free loopback port.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { freeLoopbackPort } from "./build-vms";

export const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
export const TEST_AUTH_SECRET = "test-secret-test-secret-test-secret-0123";

export function assertBuilt(): void {
  const dist = path.join(REPO_ROOT, process.env.SANDBOXER_DIST_DIR ?? ".next");
  if (!fs.existsSync(path.join(dist, "BUILD_ID"))) {
    throw new Error(`No production build in ${dist}: run \`npm run build\` first (npm test does it for you)`);
  }
}

export interface AppServer {
  url: string;
  port: number;
  dataDir: string;
  process: ChildProcess;
  /** The Node that runs it: its binary and `--version`. */
  node: { exe: string; version: string };
  logs(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * How `npm start` runs server.mjs (package.json's "start"; tests/integration/startup.test.ts keeps the
 * two the same): a young generation of at most 8 MB per semi-space and two malloc arenas keep the
 * idle server ~25–30 MB smaller at no measured CPU cost (docs/performance.md, "Idle memory").
 */
export const SERVER_NODE_FLAGS = ["--max-semi-space-size=8"];
export const SERVER_ENV = { MALLOC_ARENA_MAX: "2" };

/**
 * Starts the built server (server.mjs). `env` is layered over a safe test environment; DATABASE_URL and
 * SANDBOXER_CONFIG_DIR are expected from the caller (a test database, a temp config dir).
 */
export async function startAppServer(opts: {
  env: Record<string, string | undefined>;
  port?: number;
  readyTimeoutMs?: number;
  /** Node/V8 flags after SERVER_NODE_FLAGS (the benchmark's --server-flag what-if runs). */
  nodeFlags?: string[];
  /**
   * Which Node runs it: this process's (the tests: the release under test) or, as `npm start` picks,
   * through scripts/server-node.sh (the server runtime npm ci set up; the benchmarks).
   */
  node?: "this-process" | "npm-start";
}): Promise<AppServer> {
  assertBuilt();
  const port = opts.port ?? (await freeLoopbackPort());
  const dataDir = opts.env.SANDBOXER_DATA_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), "sandboxer-app-"));
  const url = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    ...SERVER_ENV,
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/root",
    NODE_ENV: "production",
    NEXT_TELEMETRY_DISABLED: "1",
    HOST: "127.0.0.1",
    PORT: String(port),
    BETTER_AUTH_SECRET: TEST_AUTH_SECRET,
    BETTER_AUTH_URL: url,
    SANDBOXER_DATA_DIR: dataDir,
    SANDBOXER_WORKER_POLL: "200ms",
    SANDBOXER_DISABLE_RATE_LIMIT: "1",
    // Never the default 2022: tests run side by side, each app with its own gateway on a free port.
    SANDBOXER_SSH_GATEWAY: `127.0.0.1:${await freeLoopbackPort()}`,
    LOG_LEVEL: process.env.TEST_SERVER_LOG_LEVEL ?? "warn",
    ...(process.env.SANDBOXER_DIST_DIR ? { SANDBOXER_DIST_DIR: process.env.SANDBOXER_DIST_DIR } : {}),
  };
  // An explicit undefined removes a default (e.g. BETTER_AUTH_SECRET, to test the generated one).
  for (const [k, v] of Object.entries(opts.env)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  if (opts.node === "npm-start" && process.env.SANDBOXER_RUNTIME && !("SANDBOXER_RUNTIME" in opts.env))
    env.SANDBOXER_RUNTIME = process.env.SANDBOXER_RUNTIME;
  const node = opts.node === "npm-start" ? path.join(REPO_ROOT, "scripts", "server-node.sh") : process.execPath;
  const child = spawn(node, [...SERVER_NODE_FLAGS, ...(opts.nodeFlags ?? []), path.join(REPO_ROOT, "server.mjs")], {
    cwd: REPO_ROOT,
    env: env as NodeJS.ProcessEnv,
    stdio: ["ignore", "pipe", "pipe"],
    detached: false,
  });
  let output = "";
  child.stdout!.on("data", (b: Buffer) => (output = (output + b.toString()).slice(-200_000)));
  child.stderr!.on("data", (b: Buffer) => (output = (output + b.toString()).slice(-200_000)));
  let exited = false;
  const exitedPromise = new Promise<void>((resolve) => child.once("exit", () => ((exited = true), resolve())));
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (exited) throw new Error(`the server exited before it was ready:\n${output}`);
    try {
      const res = await fetch(`${url}/sign-in`, { redirect: "manual" });
      if (res.status < 500) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`the server was not ready within ${opts.readyTimeoutMs ?? 60_000} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // The launcher execs node, so the pid is the server's either way.
  const exe = fs.readlinkSync(`/proc/${child.pid}/exe`);
  return {
    url,
    port,
    dataDir,
    process: child,
    node: {
      exe,
      version: exe === fs.realpathSync(process.execPath) ? process.version : execFileSync(exe, ["--version"], { encoding: "utf8" }).trim(),
    },
    logs: () => output,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (exited) return;
      child.kill(signal);
      const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exitedPromise;
      clearTimeout(t);
    },
  };
}

/** Signs up (first account = admin) over HTTP and returns the session cookie header. */
export async function signUp(url: string, email: string, password = "correct-horse-battery", name = email.split("@")[0]!): Promise<string> {
  const res = await fetch(`${url}/api/auth/sign-up/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: url },
    body: JSON.stringify({ email, password, name }),
  });
  if (!res.ok) throw new Error(`sign-up of ${email} failed: ${res.status} ${await res.text()}`);
  return cookieHeader(res);
}

export async function signIn(url: string, email: string, password = "correct-horse-battery"): Promise<string> {
  const res = await fetch(`${url}/api/auth/sign-in/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: url },
    body: JSON.stringify({ email, password }),
  });
  if (!res.ok) throw new Error(`sign-in of ${email} failed: ${res.status} ${await res.text()}`);
  return cookieHeader(res);
}

function cookieHeader(res: Response): string {
  return res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
}
