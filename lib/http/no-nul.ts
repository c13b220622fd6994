// A NUL character has no place in anything a person types, and PostgreSQL refuses it in text and in
// JSON: a search for "%00" or a token id with one failed deep in a query as a 500 on PostgreSQL while
// SQLite answered. Route handlers and server actions refuse it up front, naming the field, on both
// databases alike. (Text that hosts print is kept instead, with NUL as U+FFFD: lib/db/storable.ts.)
import { ValidationError } from "../errors";

const MESSAGE = "must not contain a NUL character (\\u0000)";

/** The dotted paths of the fields in `value` (strings, keys included) that hold a NUL, at most 20. */
export function fieldsWithNul(value: unknown, at = ""): string[] {
  const found: string[] = [];
  const walk = (v: unknown, where: string) => {
    if (found.length >= 20) return;
    if (typeof v === "string") {
      if (v.includes("\u0000")) found.push(where || "(body)");
      return;
    }
    if (v === null || typeof v !== "object") return;
    for (const [k, child] of Array.isArray(v) ? v.entries() : Object.entries(v)) {
      const key = String(k);
      const path = where ? `${where}.${key}` : key;
      // A key with a NUL is named without it (the name goes back in the error).
      if (key.includes("\u0000")) found.push(path.replaceAll("\u0000", "\ufffd"));
      else walk(child, path);
    }
  };
  walk(value, at);
  return found;
}

/** Throws VALIDATION_FAILED naming each field of `value` that holds a NUL; `value` is returned otherwise. */
export function refuseNul<T>(value: T): T {
  const fields = fieldsWithNul(value);
  if (fields.length > 0) {
    throw new ValidationError(
      `The request is not valid: ${fields.join(", ")} ${MESSAGE}`,
      Object.fromEntries(fields.map((f) => [f, [MESSAGE]])),
    );
  }
  return value;
}

/** `params` without the fields holding a NUL, for pages that ignore a filter they cannot use. */
export function withoutNulFields<T extends Record<string, unknown>>(params: T): Partial<T> {
  return Object.fromEntries(Object.entries(params).filter(([k, v]) => fieldsWithNul({ [k]: v }).length === 0)) as Partial<T>;
}

/**
 * Refuses a request whose JSON or form body holds a NUL in a field (for handlers that parse bodies
 * themselves: better-auth), but for the top-level fields named in `cleaned`, which the handler cleans
 * itself. `req` must already be capped (withCappedBody); it is read through a clone.
 */
export async function refuseNulInBody(req: Request, cleaned: readonly string[] = []): Promise<void> {
  const type = req.headers.get("content-type") ?? "";
  let body: unknown;
  if (type.includes("application/json")) {
    body = await req
      .clone()
      .json()
      .catch(() => undefined);
  } else if (type.includes("application/x-www-form-urlencoded")) {
    body = Object.fromEntries(new URLSearchParams(await req.clone().text()));
  }
  const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
  refuseNul(isRecord(body) ? Object.fromEntries(Object.entries(body).filter(([k]) => !cleaned.includes(k))) : body);
}
