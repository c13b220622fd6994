// One error base class for the whole product. Every error a person can meet carries a stable
// `code` from the table in lib/error-codes.ts (for the API, the CLI's exit codes and tests) and a
// message they can act on. Surfaces map codes to HTTP statuses from that table (lib/http-errors.ts)
// and never leak `cause` or stacks.
//
// Recognise our errors with `isSandboxerError` and compare `code`s — never with `instanceof`: the
// production build may hold two copies of this module in different server chunks (the worker's and a
// route's), and minification renames classes. A brand under Symbol.for survives both.

import type { ErrorCode } from "./error-codes";

export type { ErrorCode } from "./error-codes";

const BRAND = Symbol.for("sand-boxer.error");

export type ErrorDetails = Record<string, unknown>;

/**
 * `C` is one of the table's codes. Extensions outside this repository name their own code as the type
 * argument (`class NotesFileError extends SandboxerError<"NOTES_FILE">`); a direct `new
 * SandboxerError("TYPO", …)` does not compile, because `C` is never inferred from the argument.
 */
export class SandboxerError<C extends string = ErrorCode> extends Error {
  readonly code: C;
  readonly details: ErrorDetails | undefined;

  constructor(code: NoInfer<C>, message: string, options?: { cause?: unknown; details?: ErrorDetails; name?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = options?.name ?? "SandboxerError";
    this.code = code;
    this.details = options?.details;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/** Thrown when input (a form, an API body, a manifest, a profile, an id) fails validation. `fieldErrors` names each bad field. */
export class ValidationError extends SandboxerError {
  readonly fieldErrors: Record<string, string[]>;
  constructor(message: string, fieldErrors: Record<string, string[]> = {}, details?: ErrorDetails) {
    super("VALIDATION_FAILED", message, { details, name: "ValidationError" });
    this.fieldErrors = fieldErrors;
  }
}

/** Thrown when a sandbox, profile, host or other named thing does not exist. */
export class NotFoundError extends SandboxerError {
  constructor(what: string, id: string) {
    super("NOT_FOUND", `${what} "${id}" was not found`, { details: { what, id }, name: "NotFoundError" });
  }
}

/** Thrown when a request conflicts with the current state (an illegal transition, a duplicate, a quota). */
export class ConflictError extends SandboxerError {
  constructor(code: ErrorCode, message: string, details?: ErrorDetails) {
    super(code, message, { details, name: "ConflictError" });
  }
}

/** Thrown when the caller is not signed in or presented no valid token. */
export class UnauthenticatedError extends SandboxerError {
  constructor(message = "Sign in or present an API token") {
    super("UNAUTHENTICATED", message, { name: "UnauthenticatedError" });
  }
}

/** Thrown when the caller presented an API token that has expired. */
export class TokenExpiredError extends SandboxerError {
  constructor(expiresAt: Date) {
    super("TOKEN_EXPIRED", `This API token expired at ${expiresAt.toISOString()}; create a new one in Settings → API tokens`, {
      name: "TokenExpiredError",
      details: { expiresAt: expiresAt.toISOString() },
    });
  }
}

/** Thrown when an API token's scopes do not cover the request; the message names the scope needed. */
export class TokenScopeError extends SandboxerError {
  constructor(message: string, needed: string) {
    super("TOKEN_SCOPE", message, { name: "TokenScopeError", details: { needed } });
  }
}

/** Thrown when the caller is signed in but their role does not allow the action. */
export class ForbiddenError extends SandboxerError {
  constructor(message: string) {
    super("FORBIDDEN", message, { name: "ForbiddenError" });
  }
}

/** Thrown when configuration (environment, a manifest, a profile, hosts.yaml) is invalid. */
export class ConfigError extends SandboxerError {
  constructor(message: string, details?: ErrorDetails) {
    super("CONFIG_INVALID", message, { details, name: "ConfigError" });
  }
}

/** Thrown when work was cancelled through an AbortSignal (a destroy during create, Ctrl-C, shutdown). */
export class AbortedError extends SandboxerError {
  constructor(message = "The operation was cancelled") {
    super("ABORTED", message, { name: "AbortedError" });
  }
}

/** Thrown when a remote or local operation exceeded its time limit. */
export class TimeoutError extends SandboxerError {
  constructor(message: string, details?: ErrorDetails) {
    super("TIMEOUT", message, { details, name: "TimeoutError" });
  }
}

export function isSandboxerError(e: unknown): e is SandboxerError<string> {
  return typeof e === "object" && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
}

/** True for one of our errors with this code (only the table's codes: a typo does not compile). */
export function hasCode<C extends ErrorCode>(e: unknown, code: C): e is SandboxerError<C> {
  return isSandboxerError(e) && e.code === code;
}

export function isValidationError(e: unknown): e is ValidationError {
  return hasCode(e, "VALIDATION_FAILED") && "fieldErrors" in e;
}

/** A message safe to show a person: ours verbatim, anything else generic (internals stay in the server log). */
export function publicMessage(e: unknown): string {
  if (isSandboxerError(e)) return e.message;
  return "Internal error; the server log has the details";
}

/** Throws AbortedError if the signal is aborted; the reason is kept when it is one of ours. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  const reason: unknown = signal.reason;
  if (isSandboxerError(reason)) throw reason;
  throw new AbortedError(typeof reason === "string" ? reason : undefined);
}
