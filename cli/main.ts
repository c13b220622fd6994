// Entry point of the `sandboxer` command (bin/sandboxer.mjs loads it): parses the arguments, runs
// the command, and turns every outcome into an exit code — commander's usage errors into 2, our
// CliErrors into theirs, anything unexpected into 1 with its message (and the stack with DEBUG=1).
import type { CommanderError } from "commander";

import { isSandboxerError } from "@/lib/errors";

import { EXIT, isCliError } from "./exit-codes";
import { exitQuietlyOnBrokenPipe, note } from "./output";
import { buildProgram } from "./program";

function isCommanderError(e: unknown): e is CommanderError {
  return (
    typeof e === "object" &&
    e !== null &&
    typeof (e as { code?: unknown }).code === "string" &&
    (e as { code: string }).code.startsWith("commander.")
  );
}

export async function main(argv: string[]): Promise<number> {
  exitQuietlyOnBrokenPipe();
  let exitCode: number = EXIT.OK;
  const program = buildProgram((code) => {
    exitCode = code;
  });
  // Commander throws instead of exiting, for every command, so the code below decides.
  program.exitOverride();
  for (const cmd of program.commands) cmd.exitOverride();
  try {
    await program.parseAsync(argv, { from: "user" });
    return exitCode;
  } catch (e) {
    if (isCommanderError(e)) {
      // Help and version end with "errors" too; commander has already printed what it had to say.
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") return EXIT.OK;
      return EXIT.USAGE;
    }
    if (isCliError(e)) {
      // An interruption was already announced when the signal arrived.
      if (e.code !== "INTERRUPTED") note(`Error: ${e.message}`);
      return e.exitCode;
    }
    // One of ours from a library (a ValidationError from shell quoting, a config loader): its message is for people.
    if (isSandboxerError(e)) {
      note(`Error: ${e.message}`);
      return e.code === "VALIDATION_FAILED" ? EXIT.USAGE : EXIT.FAILURE;
    }
    note(`Error: ${(e as Error)?.message ?? String(e)}`);
    if (process.env.DEBUG) note((e as Error)?.stack ?? "");
    return EXIT.FAILURE;
  }
}
