// Who may do what, over real HTTP against the built app: every route handler and every server
// action refuses an anonymous caller and changes nothing; a member cannot destroy another member's
// sandbox; a revoked token is refused; a token never appears in a response or a log line.
import fs from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

import { createToken, revokeToken } from "@/lib/auth/tokens";

import { REPO_ROOT, signIn, signUp, startAppServer, type AppServer } from "../support/app-server";
import { createTestDatabase, type TestDatabase } from "../support/databases";
import { writeConfigDir } from "../support/manager-harness";

const DIST = path.join(REPO_ROOT, process.env.SANDBOXER_DIST_DIR ?? ".next");

/** Every route handler file under app/ with the HTTP methods it exports. */
function routeHandlers(): { file: string; url: string; methods: string[] }[] {
  const out: { file: string; url: string; methods: string[] }[] = [];
  const walk = (dir: string) => {
    for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, d.name);
      if (d.isDirectory()) walk(full);
      else if (d.name === "route.ts") {
        const text = fs.readFileSync(full, "utf8");
        const methods = [...text.matchAll(/export (?:const|async function) (GET|POST|PUT|PATCH|DELETE)\b/g)].map((m) => m[1]!);
        const rel = path.relative(path.join(REPO_ROOT, "app"), path.dirname(full));
        const url = `/${rel
          .split(path.sep)
          .filter((s) => !/^\(.*\)$/.test(s))
          .join("/")}`;
        out.push({ file: path.relative(REPO_ROOT, full), url, methods });
      }
    }
  };
  walk(path.join(REPO_ROOT, "app"));
  return out;
}

/** Every server action in the build, with a page that can invoke it. */
function serverActions(): { id: string; name: string; file: string; page: string }[] {
  const manifest = JSON.parse(fs.readFileSync(path.join(DIST, "server", "server-reference-manifest.json"), "utf8")) as {
    node: Record<string, { workers: Record<string, unknown>; filename: string; exportedName: string }>;
  };
  return Object.entries(manifest.node).map(([id, v]) => {
    const worker = Object.keys(v.workers)[0]!; // e.g. "app/(dashboard)/sandboxes/[id]/page"
    const page = `/${worker
      .replace(/^app\//, "")
      .replace(/\/page$/, "")
      .split("/")
      .filter((s) => !/^\(.*\)$/.test(s))
      .join("/")}`;
    return { id, name: v.exportedName, file: v.filename, page };
  });
}

describe("who may do what (over HTTP)", () => {
  let database: TestDatabase;
  let server: AppServer;
  let admin: string;
  let alice: string;
  let bob: string;
  let aliceId: string;
  let sandboxId: string;

  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
    const configDir = writeConfigDir({ includeRepoManifests: true, manifests: [] });
    fs.copyFileSync(path.join(REPO_ROOT, "profiles", "local.yaml"), path.join(configDir, "profiles", "local.yaml"));
    server = await startAppServer({ env: { DATABASE_URL: database.config.url, SANDBOXER_CONFIG_DIR: configDir, LOG_LEVEL: "debug" } });
    admin = await signUp(server.url, "admin@auth.test");
    alice = await signUp(server.url, "alice@auth.test");
    bob = await signUp(server.url, "bob@auth.test");
    aliceId = (await database.db.user.findUniqueOrThrow({ where: { email: "alice@auth.test" } })).id;
    const res = await fetch(`${server.url}/api/v1/sandboxes`, {
      method: "POST",
      headers: { cookie: alice, "content-type": "application/json", origin: server.url },
      body: JSON.stringify({ profile: "profile.local" }),
    });
    expect(res.status).toBe(202);
    sandboxId = ((await res.json()) as { id: string }).id;
    // (vi.waitFor: expect.poll works only inside a test.)
    await vi.waitFor(
      async () => {
        const s = (await (await fetch(`${server.url}/api/v1/sandboxes/${sandboxId}`, { headers: { cookie: alice } })).json()) as {
          status: string;
        };
        expect(s.status).toBe("ready");
      },
      { timeout: 30_000, interval: 100 },
    );
  });

  afterAll(async () => {
    await server?.stop();
    await database?.drop();
  });

  async function snapshot() {
    const db = database.db;
    return JSON.stringify({
      sandboxes: await db.sandbox.findMany({ select: { id: true, status: true }, orderBy: { id: "asc" } }),
      operations: await db.operation.count(),
      users: await db.user.findMany({ select: { id: true, role: true }, orderBy: { id: "asc" } }),
      tokens: await db.apiToken.findMany({ select: { id: true, revokedAt: true } }),
    });
  }

  it("the first account is admin, later ones members", async () => {
    const users = await database.db.user.findMany({ orderBy: { createdAt: "asc" }, select: { email: true, role: true } });
    expect(users).toEqual([
      { email: "admin@auth.test", role: "admin" },
      { email: "alice@auth.test", role: "member" },
      { email: "bob@auth.test", role: "member" },
    ]);
  });

  it("every route handler refuses an anonymous caller with 401 and changes nothing", async () => {
    const handlers = routeHandlers().filter(
      (h) =>
        !h.file.includes("api/auth/") && // better-auth's own endpoints
        !h.file.includes("api/v1/openapi.json/") && // deliberately public: the API's description, no data (api-contract.test.ts)
        !h.file.includes("api/v1/[...unmatched]/") && // no route: a JSON 404 for anyone, no data (hardening.test.ts)
        !h.file.includes("cli/sandboxer.cjs/"), // deliberately public: the CLI's code, no data (cli-download.test.ts)
    );
    expect(handlers.length).toBeGreaterThanOrEqual(5);
    const before = await snapshot();
    const checked: string[] = [];
    for (const h of handlers) {
      const url = h.url.replace("[id]", sandboxId).replace(/\[[^\]]+\]/g, "x");
      for (const method of h.methods) {
        const res = await fetch(`${server.url}${url}`, {
          method,
          headers: { "content-type": "application/json", accept: "application/json" },
          body: method === "GET" || method === "DELETE" ? undefined : JSON.stringify({ profile: "profile.local" }),
          redirect: "manual",
        });
        expect(res.status, `${method} ${url} (${h.file})`).toBe(401);
        expect(((await res.json()) as { code: string }).code).toBe("UNAUTHENTICATED");
        checked.push(`${method} ${url}`);
      }
    }
    expect(await snapshot()).toBe(before);
    expect(checked).toEqual(
      expect.arrayContaining([`GET /api/v1/sandboxes`, `POST /api/v1/sandboxes`, `DELETE /api/v1/sandboxes/${sandboxId}`]),
    );
  });

  it("every server action refuses an anonymous caller and changes nothing", async () => {
    const actions = serverActions();
    // Every exported action of every actions.ts file is in the build (so none escapes this test).
    const declared = routeFiles("actions.ts").flatMap((f) =>
      [...fs.readFileSync(f, "utf8").matchAll(/export const (\w+Action)\b/g)].map((m) => m[1]!),
    );
    expect(actions.map((a) => a.name).sort()).toEqual([...new Set(declared)].sort());
    const before = await snapshot();
    for (const a of actions) {
      const res = await fetch(`${server.url}${a.page.replace("[id]", sandboxId)}`, {
        method: "POST",
        headers: { "next-action": a.id, "content-type": "text/plain;charset=UTF-8", accept: "text/x-component" },
        body: JSON.stringify([
          { id: sandboxId, ids: [sandboxId], profile: "profile.local", input: {}, name: "x", userId: aliceId, role: "admin", by: "1h" },
        ]),
        redirect: "manual",
      });
      const text = await res.text();
      expect(text, `${a.name} (${a.file})`).toContain('"code":"UNAUTHENTICATED"');
    }
    expect(await snapshot()).toBe(before);
  });

  it("a member cannot destroy another member's sandbox: 403, untouched, audited", async () => {
    const res = await fetch(`${server.url}/api/v1/sandboxes/${sandboxId}`, {
      method: "DELETE",
      headers: { cookie: bob, origin: server.url },
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { code: string }).code).toBe("FORBIDDEN");
    expect((await database.db.sandbox.findUniqueOrThrow({ where: { id: sandboxId } })).status).toBe("ready");
    const audit = await database.db.event.findFirst({
      where: { type: "audit", action: "sandbox.destroy", target: sandboxId, result: "denied" },
    });
    expect(audit?.actorLabel).toBe("bob@auth.test");
    expect(audit?.sourceIp).toBeTruthy();
  });

  it("a member cannot use admin actions or pages", async () => {
    const users = await fetch(`${server.url}/admin/users`, { headers: { cookie: alice }, redirect: "manual" });
    expect(users.status).toBe(307);
    expect(users.headers.get("location")).toContain("/forbidden");
    const setRole = serverActions().find((a) => a.name === "setRoleAction")!;
    const res = await fetch(`${server.url}${setRole.page}`, {
      method: "POST",
      headers: { cookie: alice, "next-action": setRole.id, "content-type": "text/plain;charset=UTF-8", accept: "text/x-component" },
      body: JSON.stringify([{ userId: aliceId, role: "admin" }]),
      redirect: "manual",
    });
    expect(await res.text()).toContain('"code":"FORBIDDEN"');
    expect((await database.db.user.findUniqueOrThrow({ where: { id: aliceId } })).role).toBe("member");
    // The refusal is audited like a refused sandbox action (issue 14).
    const denied = await database.db.event.findFirst({
      where: { type: "audit", action: "people.manage", result: "denied", actorId: aliceId },
    });
    expect(denied?.target).toBe("action setRole");
  });

  it("an API token works as Bearer, stops working when revoked, and never shows up in a response or a log line", async () => {
    const { token, view } = await createToken(database.db, aliceId, {
      name: "ci",
      scopes: ["full"],
      expiresAt: new Date(Date.now() + 86_400_000),
    });
    const ok = await fetch(`${server.url}/api/v1/sandboxes?mine=1`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    const body = await ok.text();
    expect(body).toContain(sandboxId);
    expect(body).not.toContain(token);
    await revokeToken(database.db, aliceId, view.id);
    const revoked = await fetch(`${server.url}/api/v1/sandboxes`, { headers: { authorization: `Bearer ${token}` } });
    expect(revoked.status).toBe(401);
    const garbage = await fetch(`${server.url}/api/v1/sandboxes`, { headers: { authorization: "Bearer sbx_nope" } });
    expect(garbage.status).toBe(401);
    // The tokens page lists the token by prefix only.
    const page = await (await fetch(`${server.url}/settings/tokens`, { headers: { cookie: alice } })).text();
    expect(page).toContain(view.prefix);
    expect(page).not.toContain(token);
    expect(server.logs()).not.toContain(token);
    expect(server.logs()).not.toContain(token.slice(10));
  });

  it("records a failed sign-in with the address it came from", async () => {
    const res = await fetch(`${server.url}/api/auth/sign-in/email`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: server.url },
      body: JSON.stringify({ email: "alice@auth.test", password: "wrong-password" }),
    });
    expect(res.status).toBe(401);
    const entry = await database.db.event.findFirst({
      where: { type: "audit", action: "auth.sign_in", result: "failed", target: "alice@auth.test" },
    });
    expect(entry?.sourceIp).toBeTruthy();
    await expect(signIn(server.url, "alice@auth.test")).resolves.toContain("sandboxer");
    expect(
      await database.db.event.count({ where: { type: "audit", action: "auth.sign_in", result: "ok", target: "alice@auth.test" } }),
    ).toBeGreaterThan(0);
  });

  it("an admin destroys anyone's sandbox; the teardown is audited with its path", async () => {
    const res = await fetch(`${server.url}/api/v1/sandboxes/${sandboxId}`, {
      method: "DELETE",
      headers: { cookie: admin, origin: server.url },
    });
    expect(res.status).toBe(202);
    await expect
      .poll(async () => (await database.db.sandbox.findUniqueOrThrow({ where: { id: sandboxId } })).status, {
        timeout: 30_000,
        interval: 100,
      })
      .toBe("destroyed");
    const teardown = await database.db.event.findFirst({ where: { type: "audit", action: "sandbox.teardown", target: sandboxId } });
    expect(teardown?.result).toBe("ok");
    expect(teardown?.message).toContain(`sbx-${sandboxId}`);
  });
});

function routeFiles(name: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, d.name);
      if (d.isDirectory()) walk(full);
      else if (d.name === name) out.push(full);
    }
  };
  walk(path.join(REPO_ROOT, "app"));
  return out;
}
