// `validate` in the single-file CLI the server serves (scripts/build-cli.mjs puts this module in place
// of ./validate): the real check loads every extension and ssh2, which the bundle leaves out. It
// checks a checkout of the server's configuration, so it runs from that checkout.
import type { Command } from "commander";

import { CliError, EXIT } from "../exit-codes";

export function registerValidateCommand(program: Command): void {
  program
    .command("validate")
    .description("Validate a server checkout's extensions, profiles and hosts files (run it in the checkout: npx sandboxer validate)")
    .argument("[dir]", "the configuration directory")
    .option("--hosts <file>", "hosts file to check besides hosts.example.yaml")
    .option("--json", "print the result as JSON")
    .action(() => {
      throw new CliError(
        "NOT_IN_BUNDLE",
        "validate is not part of the downloaded CLI: it loads the server's extensions. Run it in a checkout of the server's repository: npx sandboxer validate",
        EXIT.USAGE,
      );
    });
}
