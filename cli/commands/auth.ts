// login, logout, whoami: the server URL and API token the other commands use.
import type { Command } from "commander";

import type { WhoAmIView } from "@/lib/manager/whoami";

import { ApiClient } from "../api-client";
import { configPath, normalizeUrl, removeConfig, writeConfig } from "../config";
import { CliError, EXIT } from "../exit-codes";
import { OK_MARK, out, printJson } from "../output";
import { apiClient, describeIdentity } from "./shared";

async function readTokenFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8").trim();
}

export function registerAuthCommands(program: Command, setExit: (code: number) => void): void {
  program
    .command("login")
    .description("Check an API token against a server and store both for the other commands")
    .requiredOption("--url <server>", "the sand-boxer server, e.g. https://sandboxer.example.com")
    .requiredOption("--token <token>", 'an API token (Settings → API tokens), or "-" to read it from stdin')
    .option("--json", "print the account as JSON")
    .addHelpText(
      "after",
      "\nExample:\n  sandboxer login --url https://sandboxer.example.com --token sbx_…\n  pass show sandboxer | sandboxer login --url https://sandboxer.example.com --token -",
    )
    .action(async (opts: { url: string; token: string; json?: boolean }) => {
      const url = normalizeUrl(opts.url);
      const token = opts.token === "-" ? await readTokenFromStdin() : opts.token.trim();
      if (!token) throw new CliError("BAD_TOKEN", "The token is empty", EXIT.USAGE);
      // Verify before storing: a typo should fail here, not at the next command.
      const me = await new ApiClient(url, token).get<WhoAmIView>("/me");
      const file = writeConfig({ url, token });
      if (opts.json) printJson({ url, user: me, config: file });
      else out(`${OK_MARK} Logged in to ${url} as ${describeIdentity(me)}; saved to ${file}`);
      setExit(EXIT.OK);
    });

  program
    .command("logout")
    .description("Forget the stored server URL and token (the token itself stays valid: revoke it in Settings)")
    .action(() => {
      const file = configPath();
      out(removeConfig() ? `Removed ${file}` : `Not logged in (no ${file})`);
      setExit(EXIT.OK);
    });

  program
    .command("whoami")
    .description("Who the stored token belongs to")
    .option("--json", "print as JSON")
    .action(async (opts: { json?: boolean }) => {
      const client = apiClient();
      const me = await client.get<WhoAmIView>("/me");
      if (opts.json) printJson(me);
      else out(`${describeIdentity(me)} on ${client.url}`);
      setExit(EXIT.OK);
    });
}
