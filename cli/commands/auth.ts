// login, logout, whoami: the server URL and API token the other commands use; `token list|create|revoke`
// for the person's API tokens (scopes and expiry shown; a new token is printed once).
import type { Command } from "commander";

import { TOKEN_SCOPE_HELP, type TokenScope } from "@/lib/auth/token-scopes";
import type { TokenView } from "@/lib/auth/tokens";
import type { WhoAmIView } from "@/lib/manager/whoami";

import { ApiClient } from "../api-client";
import { configPath, normalizeUrl, removeConfig, writeConfig } from "../config";
import { CliError, EXIT } from "../exit-codes";
import { OK_MARK, note, out, printJson, relative, table } from "../output";
import { apiClient, describeIdentity } from "./shared";

/** "in 89d 23h", "expired 2h ago", or "never — legacy" for a token made before tokens expired. */
export function tokenExpiry(expiresAt: string | null, now = Date.now()): string {
  if (!expiresAt) return "never — legacy";
  return new Date(expiresAt).getTime() <= now ? `expired ${relative(expiresAt, now)}` : relative(expiresAt, now);
}

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

  const token = program.command("token").description("Your API tokens: scopes, expiry, create and revoke");
  token
    .command("list")
    .description("List your API tokens with their scopes and expiry (never the tokens themselves)")
    .option("--json", "JSON output")
    .action(async (opts: { json?: boolean }) => {
      const { tokens } = await apiClient().get<{ tokens: TokenView[] }>("/me/tokens");
      if (opts.json) printJson(tokens);
      else if (tokens.length === 0) note("No API tokens yet: sandboxer token create <name>");
      else
        out(
          table(
            ["ID", "NAME", "PREFIX", "SCOPES", "EXPIRES", "LAST USED", "STATE"],
            tokens.map((t) => [
              t.id,
              t.name,
              `${t.prefix}…`,
              t.scopes.join(" "),
              tokenExpiry(t.expiresAt),
              t.lastUsedAt ? relative(t.lastUsedAt) : "never",
              t.revokedAt ? "revoked" : "active",
            ]),
          ),
        );
      setExit(EXIT.OK);
    });
  token
    .command("create")
    .description("Create an API token and print it once (needs a full-scope token; it cannot outlive or outrank it)")
    .argument("<name>", "a name to tell it apart, e.g. ci-runner")
    .option("--read-only", `the read scope: ${TOKEN_SCOPE_HELP.read} (default: full)`)
    .option("--admin", `add the admin scope: ${TOKEN_SCOPE_HELP.admin}`)
    .option("--expires-in <duration>", "how long it lasts, e.g. 30d (default and maximum: the server's)")
    .option("--json", "print the token and its listing as JSON")
    .action(async (name: string, opts: { readOnly?: boolean; admin?: boolean; expiresIn?: string; json?: boolean }) => {
      const scopes: TokenScope[] = [opts.readOnly ? "read" : "full", ...(opts.admin ? (["admin"] as const) : [])];
      const created = await apiClient().post<{ token: string; view: TokenView }>("/me/tokens", {
        name,
        scopes,
        ...(opts.expiresIn ? { expiresIn: opts.expiresIn } : {}),
      });
      if (opts.json) printJson(created);
      else {
        note(
          `${OK_MARK} token "${created.view.name}" (${created.view.id}), scopes ${created.view.scopes.join(" ")}, ` +
            `expires ${created.view.expiresAt ?? "never"} — copy it now; it is not shown again:`,
        );
        out(created.token);
      }
      setExit(EXIT.OK);
    });
  token
    .command("revoke")
    .description("Revoke one of your API tokens (refused from then on)")
    .argument("<id>", "token id (see `sandboxer token list`)")
    .action(async (id: string) => {
      const t = await apiClient().delete<TokenView>(`/me/tokens/${encodeURIComponent(id)}`);
      out(`${OK_MARK} revoked "${t.name}" (${t.prefix}…)`);
      setExit(EXIT.OK);
    });
}
