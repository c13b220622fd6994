// Runs one of the repository's TypeScript scripts (scripts/db-migrate.ts, scripts/seed.ts) the way its
// npm script does, for the benchmarks' set-up; the child is tracked so a Ctrl-C stops it too.
import { execFile } from "node:child_process";
import path from "node:path";

import { trackPid, untrackPid } from "./cleanup";

const REPO_ROOT = path.resolve(import.meta.dirname, "../..");

/** Runs `script` with `args` under tsx, `env` over this process's; resolves with its stdout. */
export function runNode(script: string, args: string[], env: Record<string, string>, timeoutMs = 300_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      ["--conditions=react-server", "--import", "tsx", script, ...args],
      { cwd: REPO_ROOT, env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        untrackPid(child.pid);
        if (err) reject(new Error(`${script} ${args.join(" ")} failed: ${stderr || err.message}`));
        else resolve(stdout.trim());
      },
    );
    trackPid(child.pid);
  });
}
