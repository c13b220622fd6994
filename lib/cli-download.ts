// The `sandboxer` CLI as this server hands it out: the single-file bundle `next build` writes into the
// build directory (scripts/build-cli.mjs), read once and served at /cli/sandboxer.cjs, and the shell
// commands the dashboard shows for it (the token panel, the Command line page), built for this
// server's public URL by the one quoting function, so an odd URL still pastes as one argument.
import "server-only";

import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

import { quoteArg, shellCommand } from "./ssh/shell-quote";

/** Where the server serves its CLI bundle (app/cli/sandboxer.cjs/route.ts). */
export const CLI_BUNDLE_PATH = "/cli/sandboxer.cjs";

/** The bundle's file under a build directory (scripts/build-cli.mjs writes it there). */
export function cliBundleFile(distDir: string): string {
  return path.join(distDir, "cli", "sandboxer.cjs");
}

export interface CliBundle {
  body: Buffer;
  /** A strong ETag: the SHA-256 of the file. */
  etag: string;
}

let cached: { file: string; bundle: CliBundle } | null = null;

/**
 * The bundle, or null when this build has none (`next dev`, or a build directory from before the
 * CLI was bundled). Read once per process: a build directory does not change under a running server.
 */
export function readCliBundle(distDir: string): CliBundle | null {
  const file = cliBundleFile(distDir);
  if (cached?.file === file) return cached.bundle;
  let body: Buffer;
  try {
    body = fs.readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  const bundle = { body, etag: `"${crypto.createHash("sha256").update(body).digest("base64url")}"` };
  cached = { file, bundle };
  return bundle;
}

/** The public URL without a trailing slash (SANDBOXER_PUBLIC_URL may carry one). */
export function serverUrl(publicUrl: string): string {
  return publicUrl.replace(/\/+$/, "");
}

export interface CliCommands {
  bundleUrl: string;
  /** Downloads the bundle into ~/.local/bin/sandboxer and makes it executable. */
  install: string;
  /** Downloads the bundle into the current directory (run it with `node sandboxer.cjs`). */
  download: string;
  /** `sandboxer login --url <this server> --token`, to which a token is appended. */
  loginPrefix: string;
}

export function cliCommands(publicUrl: string): CliCommands {
  const url = serverUrl(publicUrl);
  const bundleUrl = `${url}${CLI_BUNDLE_PATH}`;
  return {
    bundleUrl,
    // `~` stays outside the quoted URL so the shell expands it.
    install: `mkdir -p ~/.local/bin && curl -fsSL -o ~/.local/bin/sandboxer ${quoteArg(bundleUrl)} && chmod +x ~/.local/bin/sandboxer`,
    download: shellCommand(["curl", "-fsSL", "-o", "sandboxer.cjs", bundleUrl]),
    loginPrefix: shellCommand(["sandboxer", "login", "--url", url, "--token"]),
  };
}
