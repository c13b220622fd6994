// The CLI's version, which is the server's (package.json; cli/version.test.ts keeps them equal), and
// the one warning when a server answers with another: a CLI downloaded from an older or newer server.
import { WARN_MARK, note } from "./output";

export const CLI_VERSION = "0.1.0";

/** The header the server sets on every /api/v1 answer (next.config.ts). */
export const SERVER_VERSION_HEADER = "x-sandboxer-version";

const VERSION_PATTERN = /^[0-9A-Za-z][0-9A-Za-z.+-]{0,39}$/;

let warned = false;

/**
 * The warning for a server `version` (its header, or null for a server without one), once per process;
 * null when there is nothing to say. Exported apart from `warnOnVersionMismatch` for tests.
 */
export function versionMismatch(serverUrl: string, version: string | null): string | null {
  if (version === null || version === CLI_VERSION) return null;
  // The header is the server's word, shown to a person: only a plain version string is repeated.
  const theirs = VERSION_PATTERN.test(version) ? version : "another version";
  return (
    `${WARN_MARK} this sandboxer is ${CLI_VERSION}, the server runs ${theirs}; ` +
    `get the matching CLI: curl -fsSL -o ~/.local/bin/sandboxer ${serverUrl}/cli/sandboxer.cjs`
  );
}

export function warnOnVersionMismatch(serverUrl: string, res: { header(name: string): string | null }): void {
  if (warned) return;
  const message = versionMismatch(serverUrl, res.header(SERVER_VERSION_HEADER));
  if (!message) return;
  warned = true;
  note(message);
}
