// The headers every response carries, whatever answers it (a page, a route handler, a static file,
// Next's own 404): a Content-Security-Policy whose scripts must carry this request's nonce (Next
// reads the nonce from the request's CSP header and puts it on every script it renders), no framing,
// no MIME sniffing, no referrer to other sites, and HSTS when the public URL is https.
// Pure: the server entry (server.ts) sets them; tests check the policy text.

import crypto from "node:crypto";

export interface SecurityHeaderOptions {
  /** The public URL is https: browsers are told to stay on https (HSTS, upgrade-insecure-requests). */
  https: boolean;
  /** `next dev`: React's dev build evaluates code and the dev server talks over a websocket. */
  dev: boolean;
}

/** A fresh nonce per response: 128 random bits, base64 (what CSP's nonce-source allows). */
export function newNonce(): string {
  return crypto.randomBytes(16).toString("base64");
}

/**
 * The policy for one response. Scripts: only those carrying the nonce, and what they load
 * ('strict-dynamic' — Next's chunks are loaded by its nonce'd bootstrap). Styles may be inline:
 * React and Radix set style attributes, which nonces cannot cover, and CSS cannot run code.
 */
export function contentSecurityPolicy(nonce: string, opts: SecurityHeaderOptions): string {
  const directives = [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${opts.dev ? " 'unsafe-eval'" : ""}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    `connect-src 'self'${opts.dev ? " ws: wss:" : ""}`,
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    ...(opts.https ? ["upgrade-insecure-requests"] : []),
  ];
  return directives.join("; ");
}

/** Every security header of one response, CSP included. */
export function securityHeaders(nonce: string, opts: SecurityHeaderOptions): Record<string, string> {
  return {
    "Content-Security-Policy": contentSecurityPolicy(nonce, opts),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    ...(opts.https ? { "Strict-Transport-Security": "max-age=31536000" } : {}),
  };
}
