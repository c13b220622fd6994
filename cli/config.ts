// Where the CLI keeps its server URL and API token: $SANDBOXER_CONFIG, else
// $XDG_CONFIG_HOME/sandboxer/config.json, else ~/.config/sandboxer/config.json. The file holds a
// secret, so it is written with mode 0600 (directory 0700) through a temporary file and a rename: a
// crash never leaves half a token, and the token is never readable by others, not even for a moment.
// SANDBOXER_URL and SANDBOXER_TOKEN override the file (CI jobs need no file at all).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { CliError, EXIT } from "./exit-codes";

/** The environment variables the CLI reads (process.env by default; tests pass their own). */
export type CliEnvironment = Readonly<Record<string, string | undefined>>;

export interface CliConfig {
  url: string;
  token: string;
}

// Checked by hand rather than with zod: loading zod costs every command ~100 ms of start-up.
function isConfig(value: unknown): value is CliConfig {
  const v = value as Partial<Record<keyof CliConfig, unknown>> | null;
  return (
    typeof v === "object" &&
    v !== null &&
    typeof v.url === "string" &&
    URL.canParse(v.url) &&
    typeof v.token === "string" &&
    v.token.length > 0
  );
}

export function configPath(env: CliEnvironment = process.env): string {
  if (env.SANDBOXER_CONFIG) return path.resolve(env.SANDBOXER_CONFIG);
  const base = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(os.homedir(), ".config");
  return path.join(base, "sandboxer", "config.json");
}

/** The stored configuration, or null when there is none. A malformed file is an error naming it. */
export function readConfig(env: CliEnvironment = process.env): CliConfig | null {
  const file = configPath(env);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new CliError("CONFIG_UNREADABLE", `Cannot read ${file}: ${(e as Error).message}`, EXIT.FAILURE);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError("CONFIG_INVALID", `${file} is not valid JSON; run \`sandboxer login\` again`, EXIT.FAILURE);
  }
  if (!isConfig(parsed))
    throw new CliError("CONFIG_INVALID", `${file} needs "url" and "token"; run \`sandboxer login\` again`, EXIT.FAILURE);
  return { url: parsed.url, token: parsed.token };
}

export function writeConfig(config: CliConfig, env: CliEnvironment = process.env): string {
  const file = configPath(env);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  // `mode` applies only when the file is created; the explicit chmod covers a stale tmp file.
  const fd = fs.openSync(tmp, "w", 0o600);
  try {
    fs.fchmodSync(fd, 0o600);
    fs.writeFileSync(fd, JSON.stringify(config, null, 2) + "\n");
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  return file;
}

/** Removes the stored configuration; true when there was one. */
export function removeConfig(env: CliEnvironment = process.env): boolean {
  const file = configPath(env);
  try {
    fs.unlinkSync(file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
}

/** URL and token from the environment or the config file; a CliError (exit 4) when there are none. */
export function credentials(env: CliEnvironment = process.env): CliConfig {
  const stored = env.SANDBOXER_URL && env.SANDBOXER_TOKEN ? null : readConfig(env);
  const url = env.SANDBOXER_URL || stored?.url;
  const token = env.SANDBOXER_TOKEN || stored?.token;
  if (!url || !token) {
    throw new CliError(
      "NOT_LOGGED_IN",
      "Not logged in: run `sandboxer login --url <server> --token <token>` (or set SANDBOXER_URL and SANDBOXER_TOKEN)",
      EXIT.AUTH,
    );
  }
  return { url: normalizeUrl(url), token };
}

/** "http://host:3000/" → "http://host:3000"; refuses anything but http(s). */
export function normalizeUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new CliError("BAD_URL", `"${raw}" is not a URL (expected e.g. https://sandboxer.example.com)`, EXIT.USAGE);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new CliError("BAD_URL", `"${raw}" is not an http(s) URL`, EXIT.USAGE);
  return u.toString().replace(/\/+$/, "");
}
