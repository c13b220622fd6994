// Text people give about themselves (a display name) is shown to others: on the Users page, in the
// overview, in an admin's terminal. It is cleaned once, on input: no control characters (NUL, CR/LF,
// escape sequences), no bidirectional overrides or invisible formatting that reorder what others read,
// whitespace collapsed, and bounded. No server-only: pure.

/** The longest display name kept (in characters, not bytes). */
export const MAX_DISPLAY_NAME = 100;

// C0/C1 controls, DEL, bidi embeddings/overrides/isolates and marks, zero-width and other format
// characters that change how surrounding text is shown.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufeff\ufff9-\ufffb]/g;

/** A display name fit to show others: cleaned, collapsed, at most MAX_DISPLAY_NAME characters; "" when nothing is left. */
export function cleanDisplayName(raw: unknown, max = MAX_DISPLAY_NAME): string {
  if (typeof raw !== "string") return "";
  const cleaned = raw.normalize("NFC").replace(UNSAFE, " ").replace(/\s+/g, " ").trim();
  const chars = [...cleaned];
  return chars.length <= max ? cleaned : chars.slice(0, max).join("").trimEnd();
}
