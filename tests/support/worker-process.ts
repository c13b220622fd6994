// Runs `npm run worker` (scripts/worker.ts) as a real child process, so tests can kill it with
// SIGKILL mid-operation the way a crashed host or an OOM kill would.
import { spawn, type ChildProcess } from "node:child_process";

import { REPO_ROOT } from "./app-server";

export interface WorkerProcess {
  child: ChildProcess;
  logs(): string;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `script` (default the worker; `scripts/gateway.ts` is `npm run gateway`) with `env`. */
export function startWorkerProcess(env: Record<string, string | undefined>, script = "scripts/worker.ts"): WorkerProcess {
  const childEnv: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? "/root",
    NODE_ENV: "production",
    LOG_LEVEL: "info",
  };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
  const child = spawn(process.execPath, ["--conditions=react-server", "--import", "tsx", script], {
    cwd: REPO_ROOT,
    env: childEnv as NodeJS.ProcessEnv,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (b: Buffer) => (output = (output + b.toString()).slice(-100_000)));
  child.stderr!.on("data", (b: Buffer) => (output = (output + b.toString()).slice(-100_000)));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    child,
    logs: () => output,
    exited,
    async kill(signal: NodeJS.Signals = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
