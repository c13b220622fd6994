// One error base class for the whole product. Every error a person can meet carries a stable
// `code` (for the API, the CLI's exit codes and tests) and a message they can act on. Surfaces map
// codes to HTTP statuses in one place (lib/http-errors.ts) and never leak `cause` or stacks.

export type ErrorDetails = Record<string, unknown>;

export class SandboxerError extends Error {
  readonly code: string;
  readonly details: ErrorDetails | undefined;

  constructor(code: string, message: string, options?: { cause?: unknown; details?: ErrorDetails }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options?.details;
  }
}

/** Thrown when input (a form, an API body, a manifest, a profile, an id) fails validation. `fieldErrors` names each bad field. */
export class ValidationError extends SandboxerError {
  readonly fieldErrors: Record<string, string[]>;
  constructor(message: string, fieldErrors: Record<string, string[]> = {}, details?: ErrorDetails) {
    super("VALIDATION_FAILED", message, { details });
    this.fieldErrors = fieldErrors;
  }
}

/** Thrown when a sandbox, profile, host or other named thing does not exist. */
export class NotFoundError extends SandboxerError {
  constructor(what: string, id: string) {
    super("NOT_FOUND", `${what} "${id}" was not found`, { details: { what, id } });
  }
}

/** Thrown when a request conflicts with the current state (an illegal transition, a duplicate, a quota). */
export class ConflictError extends SandboxerError {
  constructor(code: string, message: string, details?: ErrorDetails) {
    super(code, message, { details });
  }
}

/** Thrown when the caller is not signed in or presented no valid token. */
export class UnauthenticatedError extends SandboxerError {
  constructor(message = "Sign in or present an API token") {
    super("UNAUTHENTICATED", message);
  }
}

/** Thrown when the caller is signed in but their role does not allow the action. */
export class ForbiddenError extends SandboxerError {
  constructor(message: string) {
    super("FORBIDDEN", message);
  }
}

/** Thrown when configuration (environment, a manifest, a profile, hosts.yaml) is invalid. */
export class ConfigError extends SandboxerError {
  constructor(message: string, details?: ErrorDetails) {
    super("CONFIG_INVALID", message, { details });
  }
}

/** Thrown when work was cancelled through an AbortSignal (a destroy during create, Ctrl-C, shutdown). */
export class AbortedError extends SandboxerError {
  constructor(message = "The operation was cancelled") {
    super("ABORTED", message);
  }
}

/** Thrown when a remote or local operation exceeded its time limit. */
export class TimeoutError extends SandboxerError {
  constructor(message: string, details?: ErrorDetails) {
    super("TIMEOUT", message, { details });
  }
}

export function isSandboxerError(e: unknown): e is SandboxerError {
  return e instanceof SandboxerError;
}

/** A message safe to show a person: ours verbatim, anything else generic (internals stay in the server log). */
export function publicMessage(e: unknown): string {
  if (e instanceof SandboxerError) return e.message;
  return "Internal error; the server log has the details";
}

/** Throws AbortedError if the signal is aborted; the reason is kept when it is one of ours. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  const reason: unknown = signal.reason;
  if (reason instanceof SandboxerError) throw reason;
  throw new AbortedError(typeof reason === "string" ? reason : undefined);
}
