// The `sandboxer` command line: every command, its options and help, on commander.
import { Command } from "commander";

import { registerAuthCommands } from "./commands/auth";
import { registerCatalogCommands } from "./commands/catalog";
import { registerHostAdminCommands } from "./commands/host-admin";
import { registerImageCommands } from "./commands/images";
import { registerDoctorCommand } from "./commands/doctor";
import { registerGatewayCommands } from "./commands/gateway";
import { registerRemoteCommands } from "./commands/remote";
import { registerSandboxCommands } from "./commands/sandboxes";
import { registerValidateCommand } from "./commands/validate";
import { EXIT_CODES_HELP } from "./exit-codes";
import { CLI_VERSION } from "./version";

const ENVIRONMENT_HELP = `
Environment:
  SANDBOXER_CONFIG        config file (default: $XDG_CONFIG_HOME/sandboxer/config.json or ~/.config/sandboxer/config.json)
  SANDBOXER_URL, SANDBOXER_TOKEN
                          server and API token, instead of \`sandboxer login\` (CI)
  SANDBOXER_SSH_IDENTITY  private key for ssh, exec and run (default: ssh's own defaults and agent)`;

/** Builds the program; `setExit` receives each command's exit code. */
export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command("sandboxer")
    .description("Self-service sandboxes from the terminal: create, list, connect, run remote builds, destroy.")
    .version(CLI_VERSION, "-V, --version")
    .showSuggestionAfterError(true)
    .addHelpText("after", `${ENVIRONMENT_HELP}\n${EXIT_CODES_HELP}\n\nDocumentation: docs/cli.md`);
  registerAuthCommands(program, setExit);
  registerCatalogCommands(program, setExit);
  registerHostAdminCommands(program, setExit);
  registerImageCommands(program, setExit);
  registerSandboxCommands(program, setExit);
  registerRemoteCommands(program, setExit);
  registerGatewayCommands(program, setExit);
  registerDoctorCommand(program, setExit);
  registerValidateCommand(program, setExit);
  return program;
}
