// Error codes → HTTP statuses (from the table in lib/error-codes.ts), and the one error body every API response uses:
// { code, message, details? } (plus fieldErrors for validation). Internals never leak.
import type { ZodError } from "zod";

import { ERROR_CODES, isErrorCode } from "./error-codes";
import { isSandboxerError, isValidationError, publicMessage } from "./errors";

function isZodError(e: unknown): e is ZodError {
  return (
    typeof e === "object" &&
    e !== null &&
    (e as { name?: unknown }).name === "ZodError" &&
    Array.isArray((e as { issues?: unknown }).issues)
  );
}

/** The status an API response carries for `code` (the table's; codes of outside extensions are 500). */
export function httpStatusFor(code: string): number {
  return isErrorCode(code) ? ERROR_CODES[code].status : 500;
}

export interface ErrorBody {
  code: string;
  message: string;
  details?: Record<string, unknown>;
  fieldErrors?: Record<string, string[]>;
}

export function zodFieldErrors(e: ZodError): Record<string, string[]> {
  const out: Record<string, string[]> = Object.create(null) as Record<string, string[]>; // keys come from input ("constructor", "__proto__")
  for (const issue of e.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const k of issue.keys) (out[k] ??= []).push("is not a known field");
      continue;
    }
    const key = issue.path.map(String).join(".") || "(body)";
    (out[key] ??= []).push(issue.message);
  }
  // A plain object again (own data properties, "__proto__" included): a server action's result crosses
  // to the browser through React's serializer, which refuses null-prototype objects.
  return Object.fromEntries(Object.entries(out));
}

/** The public shape of any error (unknown errors become INTERNAL with a generic message). */
export function errorBody(e: unknown): ErrorBody {
  if (isZodError(e)) return { code: "VALIDATION_FAILED", message: "The request is not valid", fieldErrors: zodFieldErrors(e) };
  if (isValidationError(e)) {
    return { code: e.code, message: e.message, fieldErrors: e.fieldErrors, ...(e.details ? { details: e.details } : {}) };
  }
  if (isSandboxerError(e)) {
    const details = e.details && !("issues" in e.details) ? e.details : undefined;
    return { code: e.code, message: e.message, ...(details ? { details } : {}) };
  }
  return { code: "INTERNAL", message: publicMessage(e) };
}
