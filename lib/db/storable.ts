// Text from hosts and extensions (log lines, stderr in a failure's reason, an operation's error) is
// stored as it came, except NUL: PostgreSQL refuses it in text and in JSON strings, so one such byte
// made the whole write fail — a batch of log lines lost, a state change or an operation's end not
// recorded. It is stored as U+FFFD on both databases, so both keep the same.
import "server-only";

/** `text` with NUL as U+FFFD. */
export function storableText(text: string): string {
  return text.includes("\u0000") ? text.replaceAll("\u0000", "\ufffd") : text;
}

/** The same for every string (keys included) in a JSON value; plain objects and arrays are walked, anything else (a Date) is left to its toJSON. */
export function storableJson<T>(value: T): T {
  if (typeof value === "string") return storableText(value) as T;
  if (Array.isArray(value)) return value.map(storableJson) as T;
  const proto = value !== null && typeof value === "object" ? Object.getPrototypeOf(value) : undefined;
  if (proto === Object.prototype || proto === null) {
    return Object.fromEntries(Object.entries(value as object).map(([k, v]) => [storableText(k), storableJson(v)])) as T;
  }
  return value;
}
