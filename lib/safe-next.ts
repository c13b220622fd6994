// Where to send a person after sign-in: only a path on this site. Browsers read `/\host`, `/\thost`
// and `//host` as another origin, so a prefix check is not enough; the target is resolved the way a
// browser resolves it (WHATWG URL) against a placeholder origin and kept only if the origin is unchanged.
// No server-only: the sign-in form uses it too.

const PLACEHOLDER_ORIGIN = "http://sandboxer.invalid";

/** `next` as a same-origin path (with query and fragment), or "/" when it would leave the site. */
export function safeNextPath(next: string | null | undefined): string {
  if (typeof next !== "string" || !next.startsWith("/")) return "/";
  let url: URL;
  try {
    url = new URL(next, PLACEHOLDER_ORIGIN);
  } catch {
    return "/";
  }
  if (url.origin !== PLACEHOLDER_ORIGIN) return "/";
  const path = `${url.pathname}${url.search}${url.hash}`;
  // Belt and braces: a path that still starts with two slashes would be protocol-relative.
  return path.startsWith("//") || path.startsWith("/\\") ? "/" : path;
}
