// Request-level defences from the outside review (issue 14, items 3, 4, 6 and 1), tried against the
// built app over HTTP the way the reviewer did: bodies larger than any endpoint needs (declared and
// chunked), cross-site writes riding on the session cookie, the headers every response carries, and
// forged client addresses. Each test failed before its fix.
import fs from "node:fs";
import http from "node:http";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createToken } from "@/lib/auth/tokens";

import { REPO_ROOT, signUp, startAppServer, type AppServer } from "../support/app-server";
import { createTestDatabase, type TestDatabase } from "../support/databases";
import { writeConfigDir } from "../support/manager-harness";

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * Sends the request headers and `first` bytes of body, then neither more body nor its end: a
 * server that reads the whole body before judging it never answers; one that counts while reading
 * answers as soon as the count passes its cap. The socket is closed once the answer is in.
 */
function sendAndStall(url: string, opts: { path: string; headers: Record<string, string>; first: number }): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(opts.path, url);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: "POST", headers: opts.headers });
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        req.destroy();
      });
    });
    req.on("error", reject);
    req.flushHeaders();
    if (opts.first > 0) req.write(Buffer.alloc(opts.first, "a"));
  });
}

describe("request hardening over HTTP (issue 14, items 3, 4, 6, 1)", () => {
  let database: TestDatabase;
  let server: AppServer;
  let alice: string;
  let token: string;
  let configDir: string;

  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
    configDir = writeConfigDir({ includeRepoManifests: true, manifests: [] });
    fs.copyFileSync(path.join(REPO_ROOT, "profiles", "local.yaml"), path.join(configDir, "profiles", "local.yaml"));
    server = await startAppServer({ env: { DATABASE_URL: database.config.url, SANDBOXER_CONFIG_DIR: configDir } });
    await signUp(server.url, "admin@requests.test");
    alice = await signUp(server.url, "alice@requests.test");
    const aliceId = (await database.db.user.findUniqueOrThrow({ where: { email: "alice@requests.test" } })).id;
    token = (await createToken(database.db, aliceId, { name: "script", scopes: ["full"], expiresAt: new Date(Date.now() + 86_400_000) }))
      .token;
  }, 180_000);

  afterAll(async () => {
    await server?.stop();
    await database?.drop();
  });

  const sandboxCount = () => database.db.sandbox.count();

  describe("body caps (item 3)", () => {
    it("a sign-in body declaring 100 MB is refused with 413 before a byte of it is read", async () => {
      const res = await sendAndStall(server.url, {
        path: "/api/auth/sign-in/email",
        headers: { "content-type": "application/json", origin: server.url, "content-length": String(100 * 1024 * 1024) },
        first: 0,
      });
      expect(res.status).toBe(413);
      expect(JSON.parse(res.body)).toMatchObject({ code: "PAYLOAD_TOO_LARGE", details: { limitBytes: 65536 } });
      expect(res.headers["content-type"]).toContain("application/json");
    });

    it("a chunked sign-in body (no Content-Length) is cut off once it passes 64 KB", async () => {
      const res = await sendAndStall(server.url, {
        path: "/api/auth/sign-in/email",
        headers: { "content-type": "application/json", origin: server.url, "transfer-encoding": "chunked" },
        first: 64 * 1024 + 1,
      });
      expect(res.status).toBe(413);
      expect(JSON.parse(res.body)).toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    });

    it("a chunked API body is cut off once it passes 1 MB; a body under the cap is parsed as usual", async () => {
      const before = await sandboxCount();
      const res = await sendAndStall(server.url, {
        path: "/api/v1/sandboxes",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}`, "transfer-encoding": "chunked" },
        first: 1024 * 1024 + 1,
      });
      expect(res.status).toBe(413);
      expect(JSON.parse(res.body)).toMatchObject({ code: "PAYLOAD_TOO_LARGE", details: { limitBytes: 1048576 } });
      const declared = await sendAndStall(server.url, {
        path: "/api/v1/sandboxes",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}`, "content-length": String(2 * 1024 * 1024) },
        first: 0,
      });
      expect(declared.status).toBe(413);
      expect(await sandboxCount()).toBe(before);

      // Just under the cap: read whole and judged by the schema (a padded but valid body).
      const padded = JSON.stringify({ profile: "profile.local", name: "x" }).replace("{", `{${" ".repeat(1024 * 1024 - 100)}`);
      const ok = await fetch(`${server.url}/api/v1/sandboxes`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: padded,
      });
      expect(ok.status, await ok.clone().text()).not.toBe(413);
      expect(ok.status).toBeLessThan(500);
    });

    it("a sign-in under the cap still works", async () => {
      const res = await fetch(`${server.url}/api/auth/sign-in/email`, {
        method: "POST",
        headers: { "content-type": "application/json", origin: server.url },
        body: JSON.stringify({ email: "alice@requests.test", password: "correct-horse-battery" }),
      });
      expect(res.status).toBe(200);
    });
  });

  describe("idle keep-alive connections", () => {
    it("stay open past Node's 5 s default, so a client reusing one after a pause is answered, not reset", async () => {
      // One socket at most: the second request goes on the first one's connection if it is still open.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const get = () =>
        new Promise<{ status: number; reusedConnection: boolean }>((resolve, reject) => {
          const req = http.get(`${server.url}/api/v1/openapi.json`, { agent }, (res) => {
            res.resume();
            res.on("end", () => resolve({ status: res.statusCode ?? 0, reusedConnection: req.reusedSocket }));
          });
          req.on("error", reject);
        });
      try {
        expect(await get()).toEqual({ status: 200, reusedConnection: false });
        // Node closes an idle connection 1 s after its keepAliveTimeout (5 s by default): 7 s is past that.
        await new Promise((r) => setTimeout(r, 7_000));
        expect(await get()).toEqual({ status: 200, reusedConnection: true });
      } finally {
        agent.destroy();
      }
    }, 20_000);
  });

  describe("security headers on every response (item 6)", () => {
    function expectSecurityHeaders(res: Response, what: string): string {
      const csp = res.headers.get("content-security-policy") ?? "";
      expect(csp, what).toMatch(/(^|; )script-src 'self' 'nonce-([A-Za-z0-9+/]{22}==)' 'strict-dynamic'(;|$)/);
      expect(csp, what).toContain("frame-ancestors 'none'");
      expect(csp, what).toContain("object-src 'none'");
      expect(csp, what).not.toContain("unsafe-eval");
      expect(res.headers.get("x-content-type-options"), what).toBe("nosniff");
      expect(res.headers.get("referrer-policy"), what).toBe("same-origin");
      expect(res.headers.get("x-frame-options"), what).toBe("DENY");
      // The public URL is http: no HSTS.
      expect(res.headers.get("strict-transport-security"), what).toBeNull();
      return /'nonce-([^']+)'/.exec(csp)![1]!;
    }

    it("a page, an API answer, an API error, a static file and Next's 404 all carry them", async () => {
      const page = await fetch(`${server.url}/sign-in`, { redirect: "manual" });
      expectSecurityHeaders(page, "page");
      const html = await page.text();
      const asset = /\/_next\/static\/[^"]+\.js/.exec(html)?.[0];
      expect(asset).toBeDefined();
      const responses: [string, Promise<Response>][] = [
        ["api", fetch(`${server.url}/api/v1/openapi.json`)],
        ["api error", fetch(`${server.url}/api/v1/sandboxes`)],
        ["static file", fetch(`${server.url}${asset}`)],
        ["404 page", fetch(`${server.url}/no-such-page`, { headers: { cookie: alice } })],
        ["auth endpoint", fetch(`${server.url}/api/auth/get-session`)],
      ];
      for (const [what, res] of responses) {
        const r = await res;
        expectSecurityHeaders(r, what);
        await r.arrayBuffer();
      }
    });

    it("every script of a page carries this response's nonce, fresh each time, whatever CSP the client sent", async () => {
      const nonces = new Set<string>();
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${server.url}/`, {
          headers: { cookie: alice, "content-security-policy": "script-src 'nonce-chosenbyclient'" },
        });
        expect(res.status).toBe(200);
        const nonce = expectSecurityHeaders(res, "overview");
        const scripts = [...(await res.text()).matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
        expect(scripts.length).toBeGreaterThan(3);
        for (const tag of scripts) expect(tag).toContain(`nonce="${nonce}"`);
        nonces.add(nonce);
      }
      expect(nonces.size).toBe(2);
    });

    it("HSTS and upgrade-insecure-requests only when the public URL is https", async () => {
      const https = await startAppServer({
        env: {
          DATABASE_URL: database.config.url,
          SANDBOXER_CONFIG_DIR: configDir,
          SANDBOXER_PUBLIC_URL: "https://sandboxer.example.test",
          SANDBOXER_WORKER: "off",
          SANDBOXER_SSH_GATEWAY: "off",
        },
      });
      try {
        const res = await fetch(`${https.url}/api/v1/openapi.json`);
        expect(res.headers.get("strict-transport-security")).toBe("max-age=31536000");
        expect(res.headers.get("content-security-policy")).toContain("upgrade-insecure-requests");
        expect((await fetch(`${server.url}/api/v1/openapi.json`)).headers.get("content-security-policy")).not.toContain("upgrade-insecure");
      } finally {
        await https.stop();
      }
    });
  });

  describe("cross-site writes with the session cookie (item 4)", () => {
    const create = (headers: Record<string, string>, body = JSON.stringify({ profile: "profile.local" })) =>
      fetch(`${server.url}/api/v1/sandboxes`, { method: "POST", headers, body });

    it("a text/plain create from a page on another port is refused with 403 and creates nothing", async () => {
      const before = await sandboxCount();
      const otherPort = `http://127.0.0.1:${server.port + 1}`;
      const res = await create({ cookie: alice, "content-type": "text/plain;charset=UTF-8", origin: otherPort });
      expect(res.status).toBe(403);
      const body = (await res.json()) as { code: string; message: string };
      expect(body.code).toBe("CROSS_SITE_REQUEST");
      expect(body.message).toContain(otherPort);
      expect(await sandboxCount()).toBe(before);
    });

    it("from this site, the cookie still needs JSON and an Origin; a DELETE without Origin is refused too", async () => {
      const before = await sandboxCount();
      const plain = await create({ cookie: alice, "content-type": "text/plain", origin: server.url });
      expect(plain.status).toBe(403);
      expect(((await plain.json()) as { message: string }).message).toContain("Content-Type: application/json");
      const noOrigin = await create({ cookie: alice, "content-type": "application/json" });
      expect(noOrigin.status).toBe(403);
      expect(((await noOrigin.json()) as { message: string }).message).toContain("Origin");
      expect(await sandboxCount()).toBe(before);

      const ok = await create({ cookie: alice, "content-type": "application/json", origin: server.url });
      expect(ok.status, await ok.clone().text()).toBe(202);
      const { id } = (await ok.json()) as { id: string };
      const del = await fetch(`${server.url}/api/v1/sandboxes/${id}`, { method: "DELETE", headers: { cookie: alice } });
      expect(del.status).toBe(403);
      expect(((await del.json()) as { code: string }).code).toBe("CROSS_SITE_REQUEST");
      // A DELETE has no body: its Origin is what counts.
      const delOk = await fetch(`${server.url}/api/v1/sandboxes/${id}`, {
        method: "DELETE",
        headers: { cookie: alice, origin: server.url },
      });
      expect(delOk.status).toBe(202);
    });

    it("GET with the cookie and any request with a bearer token are unaffected", async () => {
      const list = await fetch(`${server.url}/api/v1/sandboxes`, { headers: { cookie: alice, origin: "http://evil.example" } });
      expect(list.status).toBe(200);
      const res = await create({ authorization: `Bearer ${token}`, "content-type": "application/json" });
      expect(res.status, await res.clone().text()).toBe(202);
    });
  });

  describe("client addresses (item 1)", () => {
    const signInAs = (url: string, email: string, forwardedFor: string) =>
      fetch(`${url}/api/auth/sign-in/email`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          origin: url,
          "x-forwarded-for": forwardedFor,
          "x-sandboxer-client-ip": forwardedFor,
        },
        body: JSON.stringify({ email, password: "not-the-password-at-all" }),
      });
    const auditedIp = async (email: string) =>
      (
        await database.db.event.findFirstOrThrow({
          where: { type: "audit", action: "auth.sign_in", target: email },
          orderBy: { id: "desc" },
        })
      ).sourceIp;

    it("a forged X-Forwarded-For (or our own header) from a client is not believed: rate limit and audit see the socket", async () => {
      const limited = await startAppServer({
        env: {
          DATABASE_URL: database.config.url,
          SANDBOXER_CONFIG_DIR: configDir,
          SANDBOXER_WORKER: "off",
          SANDBOXER_SSH_GATEWAY: "off",
          // better-auth's per-address limit on, and a proxy list that does not include the test client.
          SANDBOXER_DISABLE_RATE_LIMIT: undefined,
          SANDBOXER_TRUSTED_PROXIES: "10.9.9.0/24",
        },
      });
      try {
        const statuses: number[] = [];
        for (let i = 0; i < 6; i++) {
          const res = await signInAs(limited.url, `nobody${i}@requests.test`, `198.51.100.${i + 1}`);
          statuses.push(res.status);
        }
        // A new forged address per attempt used to give each its own bucket: six 401s.
        expect(statuses).toContain(429);
        expect(await auditedIp("nobody0@requests.test")).toBe("127.0.0.1");
      } finally {
        await limited.stop();
      }
    });

    it("behind a trusted proxy, the address it forwarded is the client's (not one the client prepended)", async () => {
      const proxied = await startAppServer({
        env: {
          DATABASE_URL: database.config.url,
          SANDBOXER_CONFIG_DIR: configDir,
          SANDBOXER_WORKER: "off",
          SANDBOXER_SSH_GATEWAY: "off",
          SANDBOXER_TRUSTED_PROXIES: "127.0.0.1, ::1",
        },
      });
      try {
        expect((await signInAs(proxied.url, "proxied@requests.test", "6.6.6.6, 203.0.113.9")).status).toBe(401);
        expect(await auditedIp("proxied@requests.test")).toBe("203.0.113.9");
      } finally {
        await proxied.stop();
      }
    });

    it("a bad SANDBOXER_TRUSTED_PROXIES stops the server with the variable and the entry named", async () => {
      const err = await startAppServer({
        env: { DATABASE_URL: database.config.url, SANDBOXER_CONFIG_DIR: configDir, SANDBOXER_TRUSTED_PROXIES: "10.0.0.1, proxy.internal" },
        readyTimeoutMs: 30_000,
      }).catch((e: unknown) => e as Error);
      expect(err).toBeInstanceOf(Error);
      // The log line is JSON: the quotes around the entry are escaped.
      expect((err as Error).message).toMatch(
        /Invalid environment: SANDBOXER_TRUSTED_PROXIES: \\?"proxy.internal\\?" is not an IP address or CIDR range/,
      );
    });
  });

  describe("per-account sign-in throttle and password policy (item 1)", () => {
    const attempt = (email: string, password: string, forwardedFor: string) =>
      fetch(`${server.url}/api/auth/sign-in/email`, {
        method: "POST",
        headers: { "content-type": "application/json", origin: server.url, "x-forwarded-for": forwardedFor },
        body: JSON.stringify({ email, password }),
      });

    it("5 failures for one account from 5 addresses: the 6th attempt, even with the right password, is 429 with Retry-After, audited", async () => {
      await signUp(server.url, "carol@requests.test", "carol-long-passphrase");
      for (let i = 0; i < 5; i++)
        expect((await attempt("carol@requests.test", `wrong-password-${i}`, `198.51.100.${50 + i}`)).status).toBe(401);
      const refused = await attempt("Carol@Requests.test", "carol-long-passphrase", "198.51.100.99");
      expect(refused.status).toBe(429);
      const retryAfter = Number(refused.headers.get("retry-after"));
      expect(retryAfter).toBeGreaterThan(14 * 60);
      expect(retryAfter).toBeLessThanOrEqual(15 * 60);
      expect(((await refused.json()) as { code: string; message: string }).code).toBe("SIGN_IN_THROTTLED");
      const entries = await database.db.event.findMany({
        where: { type: "audit", action: "auth.sign_in", target: "carol@requests.test" },
        orderBy: { id: "asc" },
        select: { result: true, message: true },
      });
      expect(entries.map((e) => e.result)).toEqual(["failed", "failed", "failed", "failed", "failed", "denied"]);
      expect(entries.at(-1)!.message).toContain("5 failed attempts in 15 minutes");
      // Another account is not affected.
      expect((await attempt("alice@requests.test", "correct-horse-battery", "198.51.100.60")).status).toBe(200);
    });

    it("a failure window ends with a successful sign-in: its earlier failures no longer count", async () => {
      await signUp(server.url, "dave@requests.test", "dave-long-passphrase");
      for (let i = 0; i < 4; i++) expect((await attempt("dave@requests.test", `wrong-${i}-password`, "198.51.100.70")).status).toBe(401);
      expect((await attempt("dave@requests.test", "dave-long-passphrase", "198.51.100.70")).status).toBe(200);
      for (let i = 0; i < 4; i++) expect((await attempt("dave@requests.test", `wrong-${i}-again`, "198.51.100.70")).status).toBe(401);
      expect((await attempt("dave@requests.test", "dave-long-passphrase", "198.51.100.70")).status).toBe(200);
    });

    it("sign-up refuses passwords under 12 characters and common ones, naming the field", async () => {
      const signUpWith = (password: string) =>
        fetch(`${server.url}/api/auth/sign-up/email`, {
          method: "POST",
          headers: { "content-type": "application/json", origin: server.url },
          body: JSON.stringify({ email: "erin@requests.test", password, name: "Erin" }),
        });
      for (const [password, says] of [
        ["eleven-char", "password: must be at least 12 characters"],
        ["password1234", "password: is one of the most common passwords"],
        ["Sandboxer2026!", "password: is a common word"],
        ["erin@requests.test", "password: must not be your email address"],
      ] as const) {
        const res = await signUpWith(password);
        expect(res.status, password).toBe(400);
        expect(((await res.json()) as { message: string }).message, password).toContain(says);
      }
      expect(await database.db.user.count({ where: { email: "erin@requests.test" } })).toBe(0);
      expect((await signUpWith("erin-chooses-well")).status).toBe(200);
    });
  });
});
