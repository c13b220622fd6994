// The cross-site request check for writes that a browser could be tricked into sending. A session
// cookie rides along with any request the browser makes to this origin, including a form or a
// `text/plain` fetch from a page on another site (or another port of the same host); an API token
// does not. So a non-GET request authenticated by the cookie must say where it comes from (an
// allowed Origin) and be JSON — a content type that a cross-site page cannot send without a CORS
// preflight, which this server never grants.

import { SandboxerError } from "../errors";

/** Thrown when a cookie-authenticated write fails the cross-site check. */
export class CrossSiteRequestError extends SandboxerError {
  constructor(message: string, details?: Record<string, unknown>) {
    super("CROSS_SITE_REQUEST", message, { details, name: "CrossSiteRequestError" });
  }
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
// Methods that carry a body. POST is the one a cross-site form or a preflight-free fetch can send;
// PUT and PATCH are held to the same rule so that no cookie write takes anything but JSON.
const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);

export function isSafeMethod(method: string): boolean {
  return SAFE_METHODS.has(method.toUpperCase());
}

/** `application/json`, with or without parameters (`; charset=utf-8`); nothing else (`text/plain`, `application/json-seq`). */
export function isJsonContentType(value: string | null): boolean {
  if (!value) return false;
  return value.split(";")[0]!.trim().toLowerCase() === "application/json";
}

/**
 * Throws CrossSiteRequestError unless `req` — a request authenticated by a session cookie — is a
 * safe method, or carries an Origin among `allowedOrigins` (and, for POST, PUT and PATCH,
 * Content-Type application/json; a DELETE has no body to type).
 */
export function assertSameSiteWrite(req: Request, allowedOrigins: readonly string[]): void {
  if (isSafeMethod(req.method)) return;
  const origin = req.headers.get("origin");
  if (!origin || origin === "null") {
    throw new CrossSiteRequestError(
      "A request signed in by a session cookie must send an Origin header for anything but GET (scripts: use an API token)",
    );
  }
  if (!allowedOrigins.includes(origin)) {
    throw new CrossSiteRequestError(`Requests from ${origin.slice(0, 200)} may not use this session: the origin is not allowed`, {
      origin: origin.slice(0, 200),
    });
  }
  if (BODY_METHODS.has(req.method.toUpperCase()) && !isJsonContentType(req.headers.get("content-type"))) {
    throw new CrossSiteRequestError("A request signed in by a session cookie must have Content-Type: application/json");
  }
}
