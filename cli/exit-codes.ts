// The CLI's exit codes (documented in `sandboxer --help` and docs/cli.md) and the one error type
// commands throw to end with a message and a code. Scripts rely on these numbers: never renumber.
import { SandboxerError, isSandboxerError } from "@/lib/errors";

export const EXIT = {
  OK: 0,
  /** The thing asked for did not succeed: a sandbox failed, a check failed, a server error. */
  FAILURE: 1,
  /** Bad arguments or input, locally or as the server's 400. */
  USAGE: 2,
  NOT_FOUND: 3,
  /** Not logged in, a bad or revoked token (401), or not allowed (403). */
  AUTH: 4,
  /** Conflicts with the current state (409): quota reached, not ready, at the maximum TTL… */
  CONFLICT: 5,
  /** The server could not be reached or timed out. */
  UNREACHABLE: 6,
  /** Interrupted with Ctrl-C (SIGINT): 128 + 2, as shells report it. */
  INTERRUPTED: 130,
} as const;

export const EXIT_CODES_HELP = `
Exit codes:
  0    success
  1    failure (a sandbox failed, a check failed, a declined prompt, a server error)
  2    usage error (bad arguments, or the server refused the input: HTTP 400)
  3    not found (HTTP 404)
  4    not logged in, bad or revoked token, or not allowed (HTTP 401/403)
  5    conflict with the sandbox's state (HTTP 409: quota, not ready, at maximum TTL, …)
  6    server unreachable
  130  interrupted (Ctrl-C); run still destroys the sandbox it created
  exec and run exit with the remote command's own code once it ran (ssh's 255: the connection failed).`;

/** Thrown by commands: `message` is printed as is, the process exits with `exitCode`. */
/** CLI codes are the server's (passed on from API errors) or the CLI's own (BAD_URL, INTERRUPTED…). */
export class CliError extends SandboxerError<string> {
  readonly exitCode: number;
  constructor(code: string, message: string, exitCode: number, details?: Record<string, unknown>) {
    super(code, message, { details, name: "CliError" });
    this.exitCode = exitCode;
  }
}

export function isCliError(e: unknown): e is CliError {
  return isSandboxerError(e) && typeof (e as { exitCode?: unknown }).exitCode === "number";
}

/** The exit code for an HTTP error status of the API. */
export function exitCodeForStatus(status: number): number {
  if (status === 400) return EXIT.USAGE;
  if (status === 401 || status === 403) return EXIT.AUTH;
  if (status === 404) return EXIT.NOT_FOUND;
  if (status === 409) return EXIT.CONFLICT;
  return EXIT.FAILURE;
}
