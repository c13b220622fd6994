// Everything the benchmark starts registers how to undo it here. Undo steps run newest first, once,
// on normal exit, on an error, and on Ctrl-C / SIGTERM; a last synchronous pass on process exit kills
// what is still running by PID (never by name) and removes temp dirs, should the async pass not finish.
import fs from "node:fs";

type Step = { name: string; run: () => Promise<void> | void };

const steps: Step[] = [];
const pids = new Set<number>();
const dirs = new Set<string>();
let running: Promise<void> | null = null;
let installed = false;

/** Registers an async undo step (run newest first). Returns a function that unregisters it. */
export function onCleanup(name: string, run: Step["run"]): () => void {
  const step = { name, run };
  steps.push(step);
  return () => {
    const i = steps.indexOf(step);
    if (i >= 0) steps.splice(i, 1);
  };
}

/** A process to SIGKILL on exit if it is still running then. */
export function trackPid(pid: number | undefined): void {
  if (pid) pids.add(pid);
}

export function untrackPid(pid: number | undefined): void {
  if (pid) pids.delete(pid);
}

/** A directory to remove on exit (also removed by its own cleanup step, if any). */
export function trackDir(dir: string): void {
  dirs.add(dir);
}

/** Runs every registered step, newest first; errors are reported, never thrown. */
export function runCleanup(): Promise<void> {
  running ??= (async () => {
    while (steps.length > 0) {
      const step = steps.pop()!;
      try {
        await step.run();
      } catch (e) {
        console.error(`cleanup: ${step.name} failed: ${(e as Error).message}`);
      }
    }
    syncLastResort();
  })();
  return running;
}

function syncLastResort(): void {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  pids.clear();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

/** Installs the signal and exit handlers (once). */
export function installCleanupHandlers(): void {
  if (installed) return;
  installed = true;
  let signalled = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (signalled) {
      console.error(`\n${sig} again: killing what is left and exiting`);
      syncLastResort();
      process.exit(130);
    }
    signalled = true;
    console.error(`\n${sig}: cleaning up (sshd, app server, databases, temp dirs)…`);
    void runCleanup().finally(() => process.exit(sig === "SIGINT" ? 130 : 143));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("SIGHUP", onSignal);
  process.on("exit", syncLastResort);
}
