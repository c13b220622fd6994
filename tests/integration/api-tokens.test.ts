// API tokens over HTTP against the built app (issue 14, item 5): tokens expire, a read-scoped token
// may only GET, admin powers need the admin scope, server actions take the session cookie only, and
// granting access (creating tokens, registering SSH keys) needs a session or a full-scope token. The
// tokens page, `sandboxer token list` and `sandboxer whoami` show each token's scopes and expiry.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { TokenScope } from "@/lib/auth/token-scopes";
import { createToken } from "@/lib/auth/tokens";

import { REPO_ROOT, signUp, startAppServer, type AppServer } from "../support/app-server";
import { createCliEnv, type CliEnv } from "../support/cli-harness";
import { createTestDatabase, type TestDatabase } from "../support/databases";
import { writeConfigDir } from "../support/manager-harness";

const DIST = path.join(REPO_ROOT, process.env.SANDBOXER_DIST_DIR ?? ".next");
const DAY = 86_400_000;

/** The build's id for a server action, by its exported name. */
function serverActionId(name: string): { id: string; page: string } {
  const manifest = JSON.parse(fs.readFileSync(path.join(DIST, "server", "server-reference-manifest.json"), "utf8")) as {
    node: Record<string, { workers: Record<string, unknown>; exportedName: string }>;
  };
  const [id, v] = Object.entries(manifest.node).find(([, v]) => v.exportedName === name)!;
  const worker = Object.keys(v.workers)[0]!;
  const page = `/${worker
    .replace(/^app\//, "")
    .replace(/\/page$/, "")
    .split("/")
    .filter((s) => !/^\(.*\)$/.test(s))
    .join("/")}`;
  return { id, page };
}

const ED25519_KEY = `ssh-ed25519 ${Buffer.concat([
  Buffer.from([0, 0, 0, 11]),
  Buffer.from("ssh-ed25519"),
  Buffer.from([0, 0, 0, 32]),
  crypto.randomBytes(32),
]).toString("base64")} scopes@test`;

describe("API token scopes and expiry (over HTTP)", () => {
  let database: TestDatabase;
  let server: AppServer;
  let adminCookie: string;
  let aliceCookie: string;
  let adminId: string;
  let aliceId: string;
  let cli: CliEnv;

  const token = async (userId: string, name: string, scopes: TokenScope[], expiresInMs = DAY) =>
    (await createToken(database.db, userId, { name, scopes, expiresAt: new Date(Date.now() + expiresInMs) })).token;

  const api = (path: string, bearer: string, init: RequestInit = {}) =>
    fetch(`${server.url}/api/v1${path}`, {
      ...init,
      headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json", ...(init.headers as Record<string, string>) },
    });

  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
    const configDir = writeConfigDir({ includeRepoManifests: true, manifests: [] });
    fs.copyFileSync(path.join(REPO_ROOT, "profiles", "local.yaml"), path.join(configDir, "profiles", "local.yaml"));
    server = await startAppServer({
      env: {
        DATABASE_URL: database.config.url,
        SANDBOXER_CONFIG_DIR: configDir,
        SANDBOXER_TOKEN_TTL_DEFAULT: "7d",
        SANDBOXER_TOKEN_TTL_MAX: "30d",
      },
    });
    adminCookie = await signUp(server.url, "admin@tokens.test");
    aliceCookie = await signUp(server.url, "alice@tokens.test");
    adminId = (await database.db.user.findUniqueOrThrow({ where: { email: "admin@tokens.test" } })).id;
    aliceId = (await database.db.user.findUniqueOrThrow({ where: { email: "alice@tokens.test" } })).id;
    cli = createCliEnv({ SANDBOXER_URL: server.url });
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    await database?.drop();
    cli?.cleanup();
  });

  it("an expired token gets 401 TOKEN_EXPIRED saying when it expired; the CLI passes the message on", async () => {
    const t = await token(aliceId, "expired", ["full"]);
    const expiredAt = new Date(Date.now() - 60_000);
    await database.db.apiToken.updateMany({ where: { userId: aliceId, name: "expired" }, data: { expiresAt: expiredAt } });
    const res = await api("/me", t);
    expect(res.status).toBe(401);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe("TOKEN_EXPIRED");
    expect(body.message).toBe(`This API token expired at ${expiredAt.toISOString()}; create a new one in Settings → API tokens`);
    const r = await cli.run(["whoami"], { env: { SANDBOXER_TOKEN: t } });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`expired at ${expiredAt.toISOString()}`);
  });

  it("a read-scoped token may GET; a write gets 403 TOKEN_SCOPE naming the full scope, changes nothing, and is audited", async () => {
    const t = await token(aliceId, "reader", ["read"]);
    expect((await api("/sandboxes", t)).status).toBe(200);
    expect((await api("/me", t)).status).toBe(200);
    const res = await api("/sandboxes", t, { method: "POST", body: JSON.stringify({ profile: "profile.local" }) });
    expect(res.status).toBe(403);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe("TOKEN_SCOPE");
    expect(body.message).toBe('POST /api/v1/sandboxes needs an API token with the full scope; this token has "read"');
    expect(await database.db.sandbox.count()).toBe(0);
    const audit = await database.db.event.findFirst({
      where: { type: "audit", action: "token.scope", result: "denied", actorId: aliceId },
    });
    expect(audit?.target).toBe("POST /api/v1/sandboxes");
  });

  it("admin powers need the admin scope and an admin owner", async () => {
    const plain = await token(adminId, "admin-plain", ["full"]);
    const refused = await fetch(`${server.url}/api/metrics`, { headers: { authorization: `Bearer ${plain}` } });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { message: string }).message).toBe(
      "This needs the admin role (an API token also needs the admin scope)",
    );
    const scoped = await token(adminId, "admin-read", ["read", "admin"]);
    expect((await fetch(`${server.url}/api/metrics`, { headers: { authorization: `Bearer ${scoped}` } })).status).toBe(200);
    expect(((await (await api("/me", scoped)).json()) as { role: string }).role).toBe("admin");
    // A member's token with the admin scope (it cannot be created; planted here) is still a member's.
    const planted = await token(aliceId, "planted-admin", ["full", "admin"]);
    expect((await fetch(`${server.url}/api/metrics`, { headers: { authorization: `Bearer ${planted}` } })).status).toBe(403);
    // Over the API, a member asking for the admin scope is told why.
    const res = await fetch(`${server.url}/api/v1/me/tokens`, {
      method: "POST",
      headers: { cookie: aliceCookie, origin: server.url, "content-type": "application/json" },
      body: JSON.stringify({ name: "wants-admin", scopes: ["full", "admin"] }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { fieldErrors: Record<string, string[]> }).fieldErrors).toEqual({
      scopes: ["only admins can create tokens with the admin scope"],
    });
  });

  it("a signed-in session sees a role change at its next request (the role is read from the database, not a cookie)", async () => {
    const me = async () => {
      const res = await fetch(`${server.url}/api/v1/me`, { headers: { cookie: aliceCookie } });
      expect(res.status).toBe(200);
      return ((await res.json()) as { role: string }).role;
    };
    const metrics = () => fetch(`${server.url}/api/metrics`, { headers: { cookie: aliceCookie } });
    expect(await me()).toBe("member");
    expect((await metrics()).status).toBe(403);
    await database.db.user.update({ where: { id: aliceId }, data: { role: "admin" } });
    try {
      expect(await me()).toBe("admin");
      expect((await metrics()).status).toBe(200);
    } finally {
      await database.db.user.update({ where: { id: aliceId }, data: { role: "member" } });
    }
    expect(await me()).toBe("member");
    expect((await metrics()).status).toBe(403);
  });

  it("server actions take the session cookie only: a bearer token cannot mint a token through the tokens page", async () => {
    const full = await token(adminId, "action-bearer", ["full", "admin"]);
    const action = serverActionId("createTokenAction");
    const call = (headers: Record<string, string>, name: string) =>
      fetch(`${server.url}${action.page}`, {
        method: "POST",
        headers: {
          "next-action": action.id,
          "content-type": "text/plain;charset=UTF-8",
          accept: "text/x-component",
          origin: server.url,
          ...headers,
        },
        body: JSON.stringify([{ name, scopes: ["read"], expiresIn: "2d" }]),
      });
    const before = await database.db.apiToken.count();
    const viaToken = await (await call({ authorization: `Bearer ${full}` }, "minted-by-token")).text();
    expect(viaToken).toContain('"code":"UNAUTHENTICATED"');
    expect(await database.db.apiToken.count()).toBe(before);
    const viaSession = await (await call({ cookie: adminCookie }, "minted-by-session")).text();
    expect(viaSession).toContain('"ok":true');
    const row = await database.db.apiToken.findFirstOrThrow({ where: { name: "minted-by-session" } });
    expect(row.scopes).toBe("read");
    expect(Math.abs(row.expiresAt!.getTime() - (Date.now() + 2 * DAY))).toBeLessThan(60_000);
  });

  it("creating tokens and registering SSH keys need a session or a full-scope token; a token's child never outranks or outlives it", async () => {
    const reader = await token(aliceId, "grant-reader", ["read"]);
    for (const [p, body] of [
      ["/me/tokens", { name: "from-reader" }],
      ["/me/ssh-keys", { publicKey: ED25519_KEY }],
    ] as const) {
      const res = await api(p, reader, { method: "POST", body: JSON.stringify(body) });
      expect(res.status, p).toBe(403);
      expect(((await res.json()) as { code: string }).code).toBe("TOKEN_SCOPE");
    }
    expect(await database.db.sshKey.count({ where: { userId: aliceId } })).toBe(0);

    const full = await token(aliceId, "grant-full", ["full"], 2 * DAY);
    const keyRes = await api("/me/ssh-keys", full, { method: "POST", body: JSON.stringify({ publicKey: ED25519_KEY }) });
    expect(keyRes.status).toBe(201);
    const tooLong = await api("/me/tokens", full, { method: "POST", body: JSON.stringify({ name: "too-long", expiresIn: "60d" }) });
    expect(tooLong.status).toBe(400);
    expect(((await tooLong.json()) as { fieldErrors: Record<string, string[]> }).fieldErrors.expiresIn).toEqual([
      "at most 30d (SANDBOXER_TOKEN_TTL_MAX)",
    ]);
    // The default lifetime (7d) is longer than the parent's remaining 2d: the child stops with it.
    const created = await api("/me/tokens", full, { method: "POST", body: JSON.stringify({ name: "child", scopes: ["read"] }) });
    expect(created.status).toBe(201);
    const child = (await created.json()) as { token: string; view: { scopes: string[]; expiresAt: string } };
    const parentRow = await database.db.apiToken.findFirstOrThrow({ where: { userId: aliceId, name: "grant-full" } });
    expect(child.view.scopes).toEqual(["read"]);
    expect(child.view.expiresAt).toBe(parentRow.expiresAt!.toISOString());
    expect((await api("/me", child.token)).status).toBe(200);
    // With a session, the default lifetime applies.
    const bySession = await fetch(`${server.url}/api/v1/me/tokens`, {
      method: "POST",
      headers: { cookie: aliceCookie, origin: server.url, "content-type": "application/json" },
      body: JSON.stringify({ name: "by-session" }),
    });
    expect(bySession.status).toBe(201);
    const view = ((await bySession.json()) as { view: { scopes: string[]; expiresAt: string } }).view;
    expect(view.scopes).toEqual(["full"]);
    expect(Math.abs(Date.parse(view.expiresAt) - (Date.now() + 7 * DAY))).toBeLessThan(60_000);
  });

  it("the tokens page, `sandboxer token list` and `whoami` show scopes and expiry; a legacy token reads 'never — legacy'", async () => {
    const t = await token(aliceId, "shown", ["full"]);
    const legacy = await token(aliceId, "legacy", ["full"]);
    await token(aliceId, "shown-read", ["read"]);
    await database.db.apiToken.updateMany({ where: { userId: aliceId, name: "legacy" }, data: { expiresAt: null } });
    const shownRow = await database.db.apiToken.findFirstOrThrow({ where: { userId: aliceId, name: "shown" } });

    const page = await (await fetch(`${server.url}/settings/tokens`, { headers: { cookie: aliceCookie } })).text();
    expect(page).toContain("never — legacy");
    expect(page).toContain(`dateTime="${shownRow.expiresAt!.toISOString()}"`);
    expect(page).toContain(">Scopes<");

    const list = await cli.run(["token", "list"], { env: { SANDBOXER_TOKEN: t } });
    expect(list.code, list.stderr).toBe(0);
    const lines = list.stdout.split("\n");
    expect(lines[0]).toMatch(/^ID\s+NAME\s+PREFIX\s+SCOPES\s+EXPIRES\s+LAST USED\s+STATE$/);
    expect(lines.find((l) => /\blegacy\b.*never — legacy/.test(l))).toBeTruthy();
    expect(
      lines.find((l) => /\bshown\b.*\bfull\b.*in (1d|23h 5\dm)\b/.test(l)),
      list.stdout,
    ).toBeTruthy();
    expect(
      lines.find((l) => /\bshown-read\b.*\bread\b/.test(l)),
      list.stdout,
    ).toBeTruthy();

    const who = await cli.run(["whoami"], { env: { SANDBOXER_TOKEN: legacy } });
    expect(who.code, who.stderr).toBe(0);
    expect(who.stdout).toContain('alice@tokens.test (member, token "legacy" with scopes full, expires never — legacy)');

    const created = await cli.run(["token", "create", "from-cli", "--read-only", "--expires-in", "3d"], { env: { SANDBOXER_TOKEN: t } });
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout.trim()).toMatch(/^sbx_[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).toContain('token "from-cli"');
    expect(created.stderr).toContain("scopes read");
  });
});
