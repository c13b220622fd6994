// The REST API against its OpenAPI document, over real HTTP on the built app (SQLite) with a real
// build VM: the document and the route handlers under app/api/v1 agree in both directions, every
// documented route answers (with auth) with its documented status, the main responses validate
// against the documented zod schemas, errors have the documented shape and statuses, and the event
// stream resumes with Last-Event-ID delivering only later events.
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { stringify } from "yaml";
import type { z } from "zod";

import { SseParser } from "@/cli/sse";
import { API_BASE_PATH, openApiDocument } from "@/lib/api/openapi";
import {
  addedHostSchema,
  editedHostSchema,
  apiTokenListSchema,
  apiTokenSchema,
  connectionSchema,
  createdApiTokenSchema,
  errorSchema,
  hostDrainSchema,
  hostListSchema,
  hostSchema,
  removedHostSchema,
  openApiDocumentSchema,
  profileCheckSchema,
  profileListSchema,
  sandboxDetailSchema,
  sandboxEventsSchema,
  sandboxListSchema,
  sandboxSchema,
  sandboxServicesSchema,
  sshKeyListSchema,
  sshKeySchema,
  whoAmISchema,
} from "@/lib/api/responses";
import { createToken } from "@/lib/auth/tokens";

import { REPO_ROOT, signUp, startAppServer, type AppServer } from "../support/app-server";
import { startLoopbackVms } from "../support/cli-harness";
import { stopBuildVms, type BuildVms } from "../support/build-vms";
import { createTestDatabase, type TestDatabase } from "../support/databases";
import { writeConfigDir } from "../support/manager-harness";
import { hostEntryFor } from "../support/vm-harness";

/** A fresh public-key line from the real ssh-keygen (comment `<name>@laptop`). */
function sshKeyLine(name: string, args: string[] = ["-t", "ed25519"]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-key-"));
  try {
    execFileSync("ssh-keygen", ["-q", "-N", "", "-C", `${name}@laptop`, "-f", path.join(dir, "k"), ...args]);
    return fs.readFileSync(path.join(dir, "k.pub"), "utf8");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

type Doc = { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };

/** Every route handler under app/api/v1 with the methods it exports, as OpenAPI paths. */
function v1RouteHandlers(): { file: string; path: string; methods: string[] }[] {
  const root = path.join(REPO_ROOT, "app", "api", "v1");
  const out: { file: string; path: string; methods: string[] }[] = [];
  const walk = (dir: string) => {
    for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, d.name);
      if (d.isDirectory()) walk(full);
      else if (d.name === "route.ts") {
        const rel = path.relative(root, path.dirname(full)).split(path.sep).filter(Boolean);
        // The catch-all [...unmatched] is no operation: it answers the JSON 404 for paths no route has.
        if (rel.some((s) => s.startsWith("[..."))) continue;
        const text = fs.readFileSync(full, "utf8");
        const methods = [...text.matchAll(/export (?:const|async function) (GET|POST|PUT|PATCH|DELETE)\b/g)].map((m) =>
          m[1]!.toLowerCase(),
        );
        out.push({ file: path.relative(REPO_ROOT, full), path: `/${rel.map((s) => s.replace(/^\[(\w+)\]$/, "{$1}")).join("/")}`, methods });
      }
    }
  };
  walk(root);
  return out;
}

describe("REST API contract (OpenAPI 3.1 from zod)", () => {
  let vms: BuildVms;
  let database: TestDatabase;
  let server: AppServer;
  let configDir: string;
  let alice: string;
  let bob: string;
  let admin: string;
  let doc: Doc;
  /** A ready SSH sandbox of alice's. */
  let vmId: string;
  let localId: string;

  async function api(method: string, url: string, opts: { token?: string | null; body?: unknown; headers?: Record<string, string> } = {}) {
    const token = opts.token === undefined ? alice : opts.token;
    const res = await fetch(`${server.url}${API_BASE_PATH}${url}`, {
      method,
      headers: {
        accept: "application/json",
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(opts.body !== undefined ? { "content-type": "application/json" } : {}),
        ...opts.headers,
      },
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
    const text = await res.text();
    let json: unknown = undefined;
    try {
      json = JSON.parse(text);
    } catch {
      // SSE or empty
    }
    return { status: res.status, json, text, headers: res.headers };
  }

  /** The response's status is one the document lists for this route, and its body matches `schema`. */
  function expectDocumented<S extends z.ZodType>(
    method: string,
    route: string,
    res: { status: number; json: unknown },
    schema: S,
  ): z.output<S> {
    const op = doc.paths[route]?.[method];
    expect(op, `${method} ${route} is documented`).toBeDefined();
    expect(Object.keys(op!.responses), `${method} ${route} documents ${res.status}`).toContain(String(res.status));
    const parsed = schema.safeParse(res.json);
    expect(
      parsed.success,
      `${method} ${route} ${res.status}: ${JSON.stringify(parsed.error?.issues)}\n${JSON.stringify(res.json).slice(0, 500)}`,
    ).toBe(true);
    return parsed.data as z.output<S>;
  }

  async function waitSettled(id: string): Promise<string> {
    return vi.waitFor(
      async () => {
        const { status } = (await api("GET", `/sandboxes/${id}`)).json as { status: string };
        expect(["queued", "creating", "destroying"], `${id} is still ${status}`).not.toContain(status);
        return status;
      },
      { timeout: 30_000, interval: 50 },
    );
  }

  async function createSettled(profile: string, token = alice): Promise<string> {
    const res = await api("POST", "/sandboxes", { body: { profile }, token });
    expect(res.status, res.text).toBe(202);
    const id = (res.json as { id: string }).id;
    await waitSettled(id);
    return id;
  }

  beforeAll(async () => {
    vms = await startLoopbackVms();
    database = await createTestDatabase("sqlite");
    configDir = writeConfigDir({
      includeRepoManifests: true,
      manifests: [],
      profiles: {
        vm: { extension: "ext.vm-packer", params: { host: "host-vm1" } },
        local: { extension: "ext.local", params: { seed: null } },
      },
    });
    // One image whose build fails fast (file builder from a missing file): enough for the build routes.
    fs.mkdirSync(path.join(configDir, "images"));
    fs.writeFileSync(path.join(configDir, "images", "contract.yaml"), "apiVersion: sandboxer.dev/v1\nname: contract\ntimeout: 2m\n");
    fs.writeFileSync(
      path.join(configDir, "images", "contract.pkr.hcl"),
      ["image_name", "image_version", "marker_path"].map((v) => `variable "${v}" { type = string }\n`).join("") +
        'source "file" "x" {\n  source = "/nonexistent/contract"\n  target = "out"\n}\nbuild { sources = ["source.file.x"] }\n',
    );
    fs.writeFileSync(
      path.join(configDir, "hosts.yaml"),
      stringify({ apiVersion: "sandboxer.dev/v1", hosts: [hostEntryFor(vms.vm("vm1"), { capacity: 50 })] }),
    );
    server = await startAppServer({
      env: {
        DATABASE_URL: database.config.url,
        SANDBOXER_CONFIG_DIR: configDir,
        SANDBOXER_SSH_IDENTITY: vms.identityFile,
        SANDBOXER_LOCAL_WORKSPACE_ROOT: path.join(configDir, "workspaces"),
        SANDBOXER_QUOTA_ACTIVE: "0",
      },
    });
    await signUp(server.url, "admin@contract.test");
    await signUp(server.url, "alice@contract.test");
    await signUp(server.url, "bob@contract.test");
    const user = (email: string) => database.db.user.findUniqueOrThrow({ where: { email } });
    alice = (
      await createToken(database.db, (await user("alice@contract.test")).id, {
        name: "contract",
        scopes: ["full"],
        expiresAt: new Date(Date.now() + 86_400_000),
      })
    ).token;
    bob = (
      await createToken(database.db, (await user("bob@contract.test")).id, {
        name: "contract",
        scopes: ["full"],
        expiresAt: new Date(Date.now() + 86_400_000),
      })
    ).token;
    admin = (
      await createToken(database.db, (await user("admin@contract.test")).id, {
        name: "contract",
        scopes: ["full", "admin"],
        expiresAt: new Date(Date.now() + 86_400_000),
      })
    ).token;
    const res = await fetch(`${server.url}${API_BASE_PATH}/openapi.json`);
    expect(res.status).toBe(200);
    doc = (await res.json()) as Doc;
    await database.db.imageVersion.create({
      data: { id: "contract@1", image: "contract", version: "1", templateHash: "0".repeat(64), variables: {}, artifacts: [] },
    });
    vmId = await createSettled("profile.vm");
    localId = await createSettled("profile.local");
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    await database?.drop();
    if (vms) await stopBuildVms(vms);
    if (configDir) fs.rmSync(configDir, { recursive: true, force: true });
  });

  it("serves the generated OpenAPI 3.1 document publicly", async () => {
    expect(openApiDocumentSchema.parse(doc).openapi).toBe("3.1.0");
    expect(doc).toEqual(JSON.parse(JSON.stringify(openApiDocument())));
  });

  it("every app/api/v1 route handler is documented, and every documented route has a handler", () => {
    const handlers = v1RouteHandlers();
    expect(handlers.length).toBeGreaterThanOrEqual(9);
    const fromFiles = handlers.flatMap((h) => h.methods.map((m) => `${m} ${h.path}`)).sort();
    const fromDoc = Object.entries(doc.paths)
      .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`))
      .sort();
    expect(fromDoc).toEqual(fromFiles);
  });

  it("every documented route exists on the server and answers its success status with auth", async () => {
    const doomed = await createSettled("profile.local");
    const doomedKey = (await api("POST", "/me/ssh-keys", { body: { publicKey: sshKeyLine("contract-doomed") } })).json as { id: string };
    const doomedToken = (await api("POST", "/me/tokens", { body: { name: "contract-doomed" } })).json as { view: { id: string } };
    const vm2 = vms.vm("vm2");
    const bodies: Record<string, unknown> = {
      "post /sandboxes": { profile: "profile.local" },
      "post /sandboxes/{id}/extend": { by: "1h" },
      "post /profiles/{id}/check": {},
      "post /me/ssh-keys": { publicKey: sshKeyLine("contract-every-route") },
      "post /me/tokens": { name: "contract-every-route", scopes: ["read"], expiresIn: "1d" },
      "post /hosts": { id: "contract-vm2", address: vm2.host, port: vm2.port, user: vm2.user },
      "post /hosts/{id}/confirm-key": { fingerprint: vm2.hostKeyFingerprint },
      "patch /hosts/{id}": { labels: ["contract"], capacity: 3 },
      "post /hosts/{id}/cordon": { reason: "contract test" },
      "post /hosts/{id}/drain": {},
      "post /images/{id}/builds": {},
      "post /images/{id}/channels": { channel: "stable", version: "1" },
      "post /images/{id}/revoke": { version: "1", reason: "contract test" },
    };
    // A real session through the app's SSH gateway (OpenSSH client, alice's registered key), for the session routes.
    const keyDir = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-contract-ssh-"));
    execFileSync("ssh-keygen", ["-q", "-N", "", "-t", "ed25519", "-f", path.join(keyDir, "k")]);
    expect((await api("POST", "/me/ssh-keys", { body: { publicKey: fs.readFileSync(path.join(keyDir, "k.pub"), "utf8") } })).status).toBe(
      201,
    );
    const gw = (await api("GET", "/ssh-gateway")).json as { host: string; port: number; knownHostsLine: string };
    expect(gw.host).toBe("127.0.0.1");
    fs.writeFileSync(path.join(keyDir, "known_hosts"), `${gw.knownHostsLine}\n`);
    const session = spawn(
      "ssh",
      [
        ...["-F", "none", "-i", path.join(keyDir, "k"), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"],
        ...["-o", `UserKnownHostsFile=${path.join(keyDir, "known_hosts")}`, "-o", "StrictHostKeyChecking=yes"],
        ...["-p", String(gw.port), `${vmId}@127.0.0.1`, "exec sleep 60"],
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let sessionStderr = "";
    session.stderr!.on("data", (d: Buffer) => (sessionStderr += d.toString()));
    const sessionExit = new Promise<number | null>((r) => session.on("close", r));
    const sessionId = await vi.waitFor(
      async () => {
        const list = (await api("GET", `/sandboxes/${vmId}/sessions`)).json as { sessions: { id: string; endedAt: string | null }[] };
        const open = list.sessions.find((x) => x.endedAt === null);
        expect(open, sessionStderr).toBeDefined();
        return open!.id;
      },
      { timeout: 20_000, interval: 100 },
    );
    // Host routes (admins): the added VM is confirmed and removed; host-vm1 is cordoned, drained and uncordoned after.
    const hostIds: Record<string, string> = {
      "post /hosts/{id}/confirm-key": "contract-vm2",
      "patch /hosts/{id}": "contract-vm2",
      "delete /hosts/{id}": "contract-vm2",
    };
    let buildId = "";
    for (const [route, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (route.startsWith("/ssh-sessions/")) {
          // Members may not end sessions; admins may.
          expect((await api(method.toUpperCase(), route.replace("{id}", sessionId))).status).toBe(403);
          const res = await api(method.toUpperCase(), route.replace("{id}", sessionId), { token: admin });
          expect(res.status, res.text).toBe(Number(Object.keys(op.responses).find((x) => x.startsWith("2"))));
          continue;
        }
        const onHost = route.startsWith("/hosts") || route.startsWith("/images") || route.startsWith("/builds");
        if (route === "/builds/{id}/cancel") {
          // Start one to cancel (the build routes come after /images/{id}/builds, whose build may have ended already).
          buildId = ((await api("POST", "/images/contract/builds", { body: {}, token: admin })).json as { id: string }).id;
        }
        const id = route.startsWith("/images")
          ? "contract"
          : route.startsWith("/builds")
            ? buildId
            : onHost
              ? (hostIds[`${method} ${route}`] ?? "host-vm1")
              : route.startsWith("/profiles/")
                ? "profile.local"
                : route.startsWith("/me/ssh-keys/")
                  ? doomedKey.id
                  : route.startsWith("/me/tokens/")
                    ? doomedToken.view.id
                    : method === "delete"
                      ? doomed
                      : vmId;
        const res = await api(method.toUpperCase(), route.replace("{id}", id), {
          body: bodies[`${method} ${route}`],
          token: onHost ? admin : alice,
        });
        const success = Object.keys(op.responses).find((s) => s.startsWith("2"));
        if (route === "/images/{id}/builds") buildId = (res.json as { id: string }).id;
        // The cancel may come after the failing build already ended (409 BUILD_NOT_RUNNING is its documented answer then).
        if (route === "/builds/{id}/cancel" && res.status === 409) continue;
        expect(res.status, `${method.toUpperCase()} ${route}: ${res.text.slice(0, 300)}`).toBe(Number(success));
      }
    }
    // The admin's end reached the gateway: the person was told why, and the row records it.
    expect(await sessionExit).toBe(255);
    expect(sessionStderr).toContain("this session was ended by admin@contract.test");
    // The gateway records the end when the connection has closed, just after the client was told.
    const endedAt = async () =>
      ((await api("GET", `/sandboxes/${vmId}/sessions`)).json as { sessions: { id: string; endedAt: string | null }[] }).sessions.find(
        (x) => x.id === sessionId,
      )?.endedAt ?? null;
    await expect.poll(endedAt, { timeout: 10_000, interval: 100 }).not.toBeNull();
    fs.rmSync(keyDir, { recursive: true, force: true });
    expect((await api("POST", "/hosts/host-vm1/uncordon", { token: admin })).status).toBe(200);
  });

  it("host lifecycle over the API: a wrong fingerprint is refused (nothing pinned), the right one pinned; members cannot", async () => {
    const vm2 = vms.vm("vm2");
    const body = { id: "api-vm2", address: vm2.host, port: vm2.port, user: vm2.user, labels: ["api"], workspaceRoot: vm2.workspaceRoot };
    expect(expectDocumented("post", "/hosts", await api("POST", "/hosts", { body, token: bob }), errorSchema).code).toBe("FORBIDDEN");
    const added = expectDocumented("post", "/hosts", await api("POST", "/hosts", { body, token: admin }), addedHostSchema);
    expect(added.offeredHostKey).toBe(vm2.hostKeyFingerprint);
    expect(added.verifyCommand).toContain("ssh-keygen -lf");
    const wrong = await api("POST", "/hosts/api-vm2/confirm-key", {
      body: { fingerprint: vms.vm("vm1").hostKeyFingerprint },
      token: admin,
    });
    expect(expectDocumented("post", "/hosts/{id}/confirm-key", wrong, errorSchema)).toMatchObject({
      code: "KEY_MISMATCH",
      details: { offered: vm2.hostKeyFingerprint },
    });
    const listed = expectDocumented("get", "/hosts", await api("GET", "/hosts"), hostListSchema).find((h) => h.id === "api-vm2");
    expect(listed).toMatchObject({ health: "unconfirmed", hostKey: "", source: "admin" });
    const right = await api("POST", "/hosts/api-vm2/confirm-key", { body: { fingerprint: vm2.hostKeyFingerprint }, token: admin });
    expect(expectDocumented("post", "/hosts/{id}/confirm-key", right, hostSchema)).toMatchObject({ hostKey: vm2.hostKeyFingerprint });
    await expect
      .poll(async () => ((await api("GET", "/hosts")).json as { id: string; health: string }[]).find((h) => h.id === "api-vm2")?.health, {
        timeout: 30_000,
        interval: 100,
      })
      .toBe("healthy");
    // Edits: strict like the add (each bad field named), hosts.yaml hosts refused, the change returned.
    const bad = expectDocumented(
      "patch",
      "/hosts/{id}",
      await api("PATCH", "/hosts/api-vm2", { body: { capacity: 0, labels: ["Not A Label"], colour: "red" }, token: admin }),
      errorSchema,
    );
    expect(bad).toMatchObject({ code: "VALIDATION_FAILED" });
    expect(Object.keys(bad.fieldErrors ?? {}).sort()).toEqual(["capacity", "colour", "labels.0"]);
    const empty = expectDocumented("patch", "/hosts/{id}", await api("PATCH", "/hosts/api-vm2", { body: {}, token: admin }), errorSchema);
    expect(empty.fieldErrors).toEqual({ "(body)": ["give at least one field to change"] });
    expect(
      expectDocumented("patch", "/hosts/{id}", await api("PATCH", "/hosts/host-vm1", { body: { capacity: 2 }, token: admin }), errorSchema),
    ).toMatchObject({ code: "HOST_FROM_CONFIG" });
    expect(
      expectDocumented(
        "patch",
        "/hosts/{id}",
        await api("PATCH", "/hosts/api-vm2", { body: { labels: ["api", "edited"], capacity: 4 }, token: admin }),
        editedHostSchema,
      ),
    ).toEqual({ hostId: "api-vm2", changed: ["labels", "capacity"], keyConfirmation: null });
    const drained = expectDocumented(
      "post",
      "/hosts/{id}/drain",
      await api("POST", "/hosts/api-vm2/drain", { body: {}, token: admin }),
      hostDrainSchema,
    );
    expect(drained).toMatchObject({ hostId: "api-vm2", cordoned: true, remaining: [] });
    expect(expectDocumented("delete", "/hosts/{id}", await api("DELETE", "/hosts/host-vm1", { token: admin }), errorSchema).code).toBe(
      "HOST_FROM_CONFIG",
    );
    expectDocumented("delete", "/hosts/{id}", await api("DELETE", "/hosts/api-vm2", { token: admin }), removedHostSchema);
  });

  it("the main responses validate against the documented schemas", async () => {
    // Keys first: ssh-keygen blocks the event loop, and a keep-alive socket the server closes meanwhile
    // would fail the next fetch ("other side closed").
    const mainKey = sshKeyLine("contract-main");
    const rsaKey = sshKeyLine("contract-rsa", ["-t", "rsa", "-b", "2048"]);
    const dupKey = sshKeyLine("contract-dup");
    expectDocumented("get", "/me", await api("GET", "/me"), whoAmISchema);
    const profiles = expectDocumented("get", "/profiles", await api("GET", "/profiles"), profileListSchema);
    expect(profiles.map((p) => p.id)).toEqual(expect.arrayContaining(["profile.vm", "profile.local"]));
    const hosts = expectDocumented("get", "/hosts", await api("GET", "/hosts"), hostListSchema);
    expect(hosts.find((h) => h.id === "host-vm1")?.hostKey).toBe(vms.vm("vm1").hostKeyFingerprint);
    const list = expectDocumented("get", "/sandboxes", await api("GET", "/sandboxes?mine=1&pageSize=200"), sandboxListSchema);
    expect(list.rows.map((s) => s.id)).toContain(vmId);
    expectDocumented("get", "/sandboxes/{id}", await api("GET", `/sandboxes/${vmId}`), sandboxSchema);
    const detail = expectDocumented("get", "/sandboxes/{id}", await api("GET", `/sandboxes/${vmId}?detail=1`), sandboxDetailSchema);
    expect(detail.timeline.at(-1)?.status).toBe("ready");
    const events = expectDocumented(
      "get",
      "/sandboxes/{id}/events",
      await api("GET", `/sandboxes/${vmId}/events?format=json`),
      sandboxEventsSchema,
    );
    expect(events.events.length).toBeGreaterThan(2);
    expectDocumented(
      "post",
      "/sandboxes/{id}/extend",
      await api("POST", `/sandboxes/${vmId}/extend`, { body: { by: "30m" } }),
      sandboxSchema,
    );
    const check = expectDocumented(
      "post",
      "/profiles/{id}/check",
      await api("POST", "/profiles/profile.vm/check", { body: {} }),
      profileCheckSchema,
    );
    expect(check).toMatchObject({ ok: true, targets: [{ host: { id: "host-vm1" } }] });
    const conn = expectDocumented("get", "/sandboxes/{id}/connection", await api("GET", `/sandboxes/${vmId}/connection`), connectionSchema);
    // An ext.vm-packer sandbox reports its health, and no services (only compose sandboxes run several).
    const services = expectDocumented(
      "get",
      "/sandboxes/{id}/services",
      await api("GET", `/sandboxes/${vmId}/services`),
      sandboxServicesSchema,
    );
    expect(services).toMatchObject({ sandboxId: vmId, health: "ready", services: null });
    const vm = vms.vm("vm1");
    expect(conn).toEqual({
      sandboxId: vmId,
      hostId: "host-vm1",
      host: vm.host,
      port: vm.port,
      user: vm.user,
      workspacePath: path.join(vm.workspaceRoot, `sbx-${vmId}`),
      hostKey: vm.hostKeyFingerprint,
      knownHostsLine: `[${vm.host}]:${vm.port} ${vm.hostPublicKeyLine}`,
    });
    expect(JSON.stringify(conn)).not.toMatch(/PRIVATE KEY/);
    const created = expectDocumented(
      "post",
      "/sandboxes",
      await api("POST", "/sandboxes", { body: { profile: "profile.local" } }),
      sandboxSchema,
    );
    await waitSettled(created.id);
    expectDocumented("delete", "/sandboxes/{id}", await api("DELETE", `/sandboxes/${created.id}`), sandboxSchema);
    const key = expectDocumented("post", "/me/ssh-keys", await api("POST", "/me/ssh-keys", { body: { publicKey: mainKey } }), sshKeySchema);
    expect(key).toMatchObject({ type: "ssh-ed25519", bits: 256, comment: "contract-main@laptop", lastUsedAt: null });
    const keys = expectDocumented("get", "/me/ssh-keys", await api("GET", "/me/ssh-keys"), sshKeyListSchema);
    expect(keys.keys.map((k) => k.fingerprint)).toContain(key.fingerprint);
    // Only the owner sees (and removes) a key.
    expect(((await api("GET", "/me/ssh-keys", { token: bob })).json as { keys: unknown[] }).keys).toEqual([]);
    expectDocumented("delete", "/me/ssh-keys/{id}", await api("DELETE", `/me/ssh-keys/${key.id}`, { token: bob }), errorSchema);
    expectDocumented("delete", "/me/ssh-keys/{id}", await api("DELETE", `/me/ssh-keys/${key.id}`), sshKeySchema);
    // Field errors: a short RSA key, a duplicate (another person's key), junk.
    const rsa = expectDocumented("post", "/me/ssh-keys", await api("POST", "/me/ssh-keys", { body: { publicKey: rsaKey } }), errorSchema);
    expect(rsa.fieldErrors?.publicKey?.[0]).toMatch(/at least 3072 bits/);
    const line = dupKey;
    expect((await api("POST", "/me/ssh-keys", { body: { publicKey: line } })).status).toBe(201);
    const dup = expectDocumented(
      "post",
      "/me/ssh-keys",
      await api("POST", "/me/ssh-keys", { body: { publicKey: line }, token: bob }),
      errorSchema,
    );
    expect(dup.fieldErrors?.publicKey?.[0]).toMatch(/registered to another account/);

    // API tokens: created (the token once), listed with scopes and expiry, revoked; field errors name the field.
    const me = whoAmISchema.parse((await api("GET", "/me")).json);
    expect(me).toMatchObject({ via: "token", tokenName: "contract", tokenScopes: ["full"] });
    expect(me.tokenExpiresAt).not.toBeNull();
    const made = expectDocumented(
      "post",
      "/me/tokens",
      await api("POST", "/me/tokens", { body: { name: "contract-main", scopes: ["read"], expiresIn: "2d" } }),
      createdApiTokenSchema,
    );
    expect(made.view).toMatchObject({ name: "contract-main", scopes: ["read"], revokedAt: null });
    const tokens = expectDocumented("get", "/me/tokens", await api("GET", "/me/tokens"), apiTokenListSchema);
    expect(tokens.tokens.map((t) => t.name)).toContain("contract-main");
    expect(JSON.stringify(tokens)).not.toContain(made.token);
    const readOnlyWrite = expectDocumented(
      "post",
      "/me/tokens",
      await api("POST", "/me/tokens", { body: { name: "from-read" }, token: made.token }),
      errorSchema,
    );
    expect(readOnlyWrite.code).toBe("TOKEN_SCOPE");
    const badScopes = expectDocumented(
      "post",
      "/me/tokens",
      await api("POST", "/me/tokens", { body: { name: "x", scopes: ["sudo"] } }),
      errorSchema,
    );
    expect(Object.keys(badScopes.fieldErrors ?? {})).toEqual(["scopes.0"]);
    expectDocumented("delete", "/me/tokens/{id}", await api("DELETE", `/me/tokens/${made.view.id}`, { token: bob }), errorSchema);
    const revoked = expectDocumented("delete", "/me/tokens/{id}", await api("DELETE", `/me/tokens/${made.view.id}`), apiTokenSchema);
    expect(revoked.revokedAt).not.toBeNull();
  });

  it("errors have the documented shape and status: 400 with fieldErrors, 401, 403, 404, 409", async () => {
    const bad = expectDocumented("post", "/sandboxes", await api("POST", "/sandboxes", { body: { profile: "", extra: 1 } }), errorSchema);
    expect(bad.code).toBe("VALIDATION_FAILED");
    expect(Object.keys(bad.fieldErrors ?? {}).sort()).toEqual(["extra", "profile"]);
    const page = expectDocumented("get", "/sandboxes", await api("GET", "/sandboxes?pageSize=9999&status=nope"), errorSchema);
    expect(Object.keys(page.fieldErrors ?? {}).sort()).toEqual(["pageSize", "status.0"]);
    const by = expectDocumented(
      "post",
      "/sandboxes/{id}/extend",
      await api("POST", `/sandboxes/${vmId}/extend`, { body: { by: "soon" } }),
      errorSchema,
    );
    expect(by.fieldErrors?.by).toEqual(["a duration such as 2h or 30m"]);

    const anonymous = await api("GET", "/sandboxes", { token: null });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toContain("Bearer");
    expect(expectDocumented("get", "/sandboxes", anonymous, errorSchema).code).toBe("UNAUTHENTICATED");
    expect(expectDocumented("get", "/me", await api("GET", "/me", { token: "sbx_revoked-or-made-up" }), errorSchema).code).toBe(
      "UNAUTHENTICATED",
    );

    expect(expectDocumented("delete", "/sandboxes/{id}", await api("DELETE", `/sandboxes/${vmId}`, { token: bob }), errorSchema).code).toBe(
      "FORBIDDEN",
    );
    expect(
      expectDocumented(
        "post",
        "/sandboxes/{id}/extend",
        await api("POST", `/sandboxes/${vmId}/extend`, { token: bob, body: { by: "1h" } }),
        errorSchema,
      ).code,
    ).toBe("FORBIDDEN");

    const missing = expectDocumented("get", "/sandboxes/{id}", await api("GET", "/sandboxes/zzzzzzzzzzzz"), errorSchema);
    expect(missing).toEqual({
      code: "NOT_FOUND",
      message: 'Sandbox "zzzzzzzzzzzz" was not found',
      details: { what: "Sandbox", id: "zzzzzzzzzzzz" },
    });
    expect(
      expectDocumented("post", "/profiles/{id}/check", await api("POST", "/profiles/profile.nope/check", { body: {} }), errorSchema).code,
    ).toBe("NOT_FOUND");
    expect(
      expectDocumented("post", "/sandboxes", await api("POST", "/sandboxes", { body: { profile: "profile.nope" } }), errorSchema).code,
    ).toBe("NOT_FOUND");

    await api("POST", `/sandboxes/${vmId}/extend`, { body: { by: "1000d" } });
    const atMax = await api("POST", `/sandboxes/${vmId}/extend`, { body: { by: "1h" } });
    expect(atMax.status).toBe(409);
    expect(expectDocumented("post", "/sandboxes/{id}/extend", atMax, errorSchema).code).toBe("AT_MAX_TTL");
    const local = await api("GET", `/sandboxes/${localId}/connection`);
    expect(local.status).toBe(409);
    expect(expectDocumented("get", "/sandboxes/{id}/connection", local, errorSchema).code).toBe("NOT_CONNECTABLE");
    // The registry has not (or no longer) seen the full key: no known_hosts line to hand out.
    const saved = await database.db.buildHost.findUniqueOrThrow({ where: { id: "host-vm1" } });
    await database.db.buildHost.update({ where: { id: "host-vm1" }, data: { hostPublicKey: null } });
    try {
      const unknown = await api("GET", `/sandboxes/${vmId}/connection`);
      expect(unknown.status).toBe(409);
      expect(expectDocumented("get", "/sandboxes/{id}/connection", unknown, errorSchema)).toMatchObject({
        code: "HOST_KEY_UNKNOWN",
        details: { pinned: vms.vm("vm1").hostKeyFingerprint },
      });
      // A stored key that is not the pinned one is never handed out either.
      await database.db.buildHost.update({ where: { id: "host-vm1" }, data: { hostPublicKey: vms.vm("vm2").hostPublicKeyLine } });
      const wrong = await api("GET", `/sandboxes/${vmId}/connection`);
      expect(wrong.status).toBe(409);
      expect((wrong.json as { code: string; message: string }).message).toContain("is not the pinned");
    } finally {
      await database.db.buildHost.update({ where: { id: "host-vm1" }, data: { hostPublicKey: saved.hostPublicKey } });
    }
  });

  /** Reads an event stream until `end` (or `stopAfter` events), returning the ids seen. */
  async function readStream(
    id: string,
    opts: { lastEventId?: number; after?: number; stopAfter?: number } = {},
  ): Promise<{ ids: number[]; end: { status: string } | null }> {
    const controller = new AbortController();
    const res = await fetch(
      `${server.url}${API_BASE_PATH}/sandboxes/${id}/events${opts.after !== undefined ? `?after=${opts.after}` : ""}`,
      {
        headers: {
          accept: "text/event-stream",
          authorization: `Bearer ${alice}`,
          ...(opts.lastEventId !== undefined ? { "last-event-id": String(opts.lastEventId) } : {}),
        },
        signal: controller.signal,
      },
    );
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const reader = res.body!.getReader();
    const parser = new SseParser();
    const decoder = new TextDecoder();
    const ids: number[] = [];
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return { ids, end: null };
        for (const msg of parser.push(decoder.decode(value, { stream: true }))) {
          if (msg.event === "end") return { ids, end: JSON.parse(msg.data) as { status: string } };
          if (msg.event === "log" || msg.event === "state") {
            expect(Number(msg.id)).toBe((JSON.parse(msg.data) as { id: number }).id);
            ids.push(Number(msg.id));
            if (opts.stopAfter && ids.length >= opts.stopAfter) return { ids, end: null };
          }
        }
      }
    } finally {
      controller.abort();
    }
  }

  it("SSE: Last-Event-ID resumes after that event, taking precedence over ?after", async () => {
    const all = ((await api("GET", `/sandboxes/${vmId}/events?format=json`)).json as { events: { id: number }[] }).events.map((e) => e.id);
    const full = await readStream(vmId);
    expect(full.ids).toEqual(all);
    expect(full.end?.status).toBe("ready");
    const resumed = await readStream(vmId, { lastEventId: all[1]! });
    expect(resumed.ids).toEqual(all.slice(2));
    expect(resumed.end?.status).toBe("ready");
    expect((await readStream(vmId, { after: all[0]! })).ids).toEqual(all.slice(1));
    expect((await readStream(vmId, { after: 0, lastEventId: all.at(-1)! })).ids).toEqual([]);
  });

  it("SSE: a stream cut during a create and resumed with Last-Event-ID misses nothing and repeats nothing", async () => {
    const res = await api("POST", "/sandboxes", { body: { profile: "profile.vm" } });
    const id = (res.json as { id: string }).id;
    const first = await readStream(id, { stopAfter: 1 });
    expect(first.ids).toHaveLength(1);
    const rest = await readStream(id, { lastEventId: first.ids.at(-1)! });
    expect(rest.end?.status).toBe("ready");
    const all = ((await api("GET", `/sandboxes/${id}/events?format=json`)).json as { events: { id: number }[] }).events.map((e) => e.id);
    expect([...first.ids, ...rest.ids]).toEqual(all);
  });
});
