// Ctrl-C for long commands (create --wait, destroy, exec, run): the first SIGINT (or SIGTERM, as CI
// runners send) aborts the work through an AbortSignal so the command can clean up — stop the remote
// command, destroy what it created — and exit 130 (143 for SIGTERM). A second one exits at once.
import { CliError, EXIT } from "./exit-codes";
import { note } from "./output";

export async function withInterrupt<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    const code = sig === "SIGTERM" ? 143 : EXIT.INTERRUPTED;
    if (controller.signal.aborted) {
      note(`\n${sig} again: exiting without waiting for the clean-up`);
      process.exit(code);
    }
    note(`\nInterrupted (${sig}): stopping…`);
    controller.abort(new CliError("INTERRUPTED", `Interrupted by ${sig}`, code));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    return await fn(controller.signal);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
