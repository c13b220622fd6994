// The shell commands the dashboard shows for the `sandboxer` CLI (the token panel), built for this
// server's public URL by the one quoting function, so an odd URL still pastes as one argument.
import "server-only";

import { shellCommand } from "./ssh/shell-quote";

/** The public URL without a trailing slash (SANDBOXER_PUBLIC_URL may carry one). */
export function serverUrl(publicUrl: string): string {
  return publicUrl.replace(/\/+$/, "");
}

export interface CliCommands {
  /** `sandboxer login --url <this server> --token`, to which a token is appended. */
  loginPrefix: string;
}

export function cliCommands(publicUrl: string): CliCommands {
  return { loginPrefix: shellCommand(["sandboxer", "login", "--url", serverUrl(publicUrl), "--token"]) };
}
