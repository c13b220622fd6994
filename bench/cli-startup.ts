// CLI start-up, whole process, beside node's own start in the same rounds (issue 15): `node -e 0`,
// the single-file CLI the server serves (`<distDir>/cli/sandboxer.cjs`) and the checkout's
// bin/sandboxer.mjs, each with `--version` and with `list` against a running server. Rounds interleave
// the commands so drift in the machine's load hits all of them alike; medians are reported, and the
// keys are the medians' differences from node's: cliVersionOverNodeMs, cliListOverNodeMs.
//
// Alone: node --import tsx bench/cli-startup.ts [--runs N] [--url URL --token TOKEN]
// (without a server only --version is measured).
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";

import { median, round } from "./lib/stats";

const REPO_ROOT = path.resolve(import.meta.dirname, "..");

export interface CliStartupBench {
  runs: number;
  /** Medians, whole process, ms. */
  nodeMs: number;
  bundleVersionMs: number;
  bundleListMs: number | null;
  checkoutVersionMs: number;
  checkoutListMs: number | null;
  cliVersionOverNodeMs: number;
  cliListOverNodeMs: number | null;
  loadAverage: { start: number[]; end: number[] };
}

function timeProcess(argv: string[], env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(argv[0]!, argv.slice(1), { env: env as NodeJS.ProcessEnv, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
    child.once("error", reject);
    child.once("close", (code) => {
      const ms = performance.now() - started;
      if (code !== 0) reject(new Error(`${argv.join(" ")} exited ${code}: ${stderr}`));
      else resolve(ms);
    });
  });
}

export async function measureCliStartup(opts: {
  distDir?: string;
  server?: { url: string; token: string };
  runs?: number;
  log?: (line: string) => void;
}): Promise<CliStartupBench> {
  const runs = opts.runs ?? 10;
  const bundle = path.join(opts.distDir ?? path.join(REPO_ROOT, ".next"), "cli", "sandboxer.cjs");
  if (!fs.existsSync(bundle)) throw new Error(`No CLI bundle at ${bundle}: run \`npm run build\``);
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "sandboxer-cli-bench-"));
  // The CLI's environment: nothing of the caller's but PATH; credentials from the environment (no file).
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    SANDBOXER_CONFIG: path.join(home, "none.json"),
    ...(opts.server ? { SANDBOXER_URL: opts.server.url, SANDBOXER_TOKEN: opts.server.token } : {}),
  };
  const node = process.execPath;
  const checkout = path.join(REPO_ROOT, "bin", "sandboxer.mjs");
  const commands: Record<string, string[]> = {
    node: [node, "-e", "0"],
    bundleVersion: [node, bundle, "--version"],
    checkoutVersion: [node, checkout, "--version"],
    ...(opts.server
      ? { bundleList: [node, bundle, "list", "--page-size", "5"], checkoutList: [node, checkout, "list", "--page-size", "5"] }
      : {}),
  };
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(commands).map((k) => [k, []]));
  const loadStart = os.loadavg().map((l) => round(l, 2));
  try {
    // One warm-up round (the page cache), then the measured ones.
    for (const argv of Object.values(commands)) await timeProcess(argv, env);
    for (let i = 0; i < runs; i++) for (const [name, argv] of Object.entries(commands)) times[name]!.push(await timeProcess(argv, env));
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
  const m = (name: string) => (times[name]?.length ? round(median(times[name]!), 1) : null);
  const nodeMs = m("node")!;
  const result: CliStartupBench = {
    runs,
    nodeMs,
    bundleVersionMs: m("bundleVersion")!,
    bundleListMs: m("bundleList"),
    checkoutVersionMs: m("checkoutVersion")!,
    checkoutListMs: m("checkoutList"),
    cliVersionOverNodeMs: round(m("bundleVersion")! - nodeMs, 1),
    cliListOverNodeMs: opts.server ? round(m("bundleList")! - nodeMs, 1) : null,
    loadAverage: { start: loadStart, end: os.loadavg().map((l) => round(l, 2)) },
  };
  opts.log?.(
    `CLI start-up (medians of ${runs}): node ${result.nodeMs} ms; bundle --version ${result.bundleVersionMs} ms (+${result.cliVersionOverNodeMs})` +
      (result.bundleListMs !== null ? `, list ${result.bundleListMs} ms (+${result.cliListOverNodeMs})` : "") +
      `; checkout bin --version ${result.checkoutVersionMs} ms` +
      (result.checkoutListMs !== null ? `, list ${result.checkoutListMs} ms` : ""),
  );
  return result;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const url = arg("--url");
  const token = arg("--token") ?? process.env.SANDBOXER_TOKEN;
  const result = await measureCliStartup({
    runs: Number(arg("--runs") ?? 10),
    server: url && token ? { url, token } : undefined,
    distDir: process.env.SANDBOXER_DIST_DIR ? path.resolve(REPO_ROOT, process.env.SANDBOXER_DIST_DIR) : undefined,
    log: (l) => console.error(l),
  });
  console.log(JSON.stringify(result, null, 2));
}
