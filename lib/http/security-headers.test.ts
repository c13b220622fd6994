import { describe, expect, it } from "vitest";

import { contentSecurityPolicy, newNonce, securityHeaders } from "./security-headers";

describe("security headers", () => {
  it("allow only nonce'd scripts, no framing, no plugins", () => {
    const csp = contentSecurityPolicy("abc", { https: false, dev: false });
    const directives = Object.fromEntries(csp.split("; ").map((d) => [d.split(" ")[0], d.split(" ").slice(1).join(" ")]));
    expect(directives["script-src"]).toBe("'self' 'nonce-abc' 'strict-dynamic'");
    expect(directives["frame-ancestors"]).toBe("'none'");
    expect(directives["object-src"]).toBe("'none'");
    expect(directives["base-uri"]).toBe("'self'");
    expect(csp).not.toContain("unsafe-eval");
    expect(csp).not.toContain("upgrade-insecure-requests");
  });

  it("add HSTS and upgrade-insecure-requests for an https public URL only", () => {
    expect(securityHeaders("n", { https: true, dev: false })["Strict-Transport-Security"]).toBe("max-age=31536000");
    expect(securityHeaders("n", { https: true, dev: false })["Content-Security-Policy"]).toContain("upgrade-insecure-requests");
    expect(securityHeaders("n", { https: false, dev: false })).not.toHaveProperty("Strict-Transport-Security");
  });

  it("let next dev evaluate code and open its websocket", () => {
    const csp = contentSecurityPolicy("n", { https: false, dev: true });
    expect(csp).toContain("'unsafe-eval'");
    expect(csp).toContain("connect-src 'self' ws: wss:");
  });

  it("make a fresh 128-bit nonce each time", () => {
    const a = newNonce();
    expect(Buffer.from(a, "base64")).toHaveLength(16);
    expect(newNonce()).not.toBe(a);
  });
});
