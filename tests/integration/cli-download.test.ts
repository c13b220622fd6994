// The CLI as the server hands it out: `next build` bundles it into one file, the built server serves it
// at /cli/sandboxer.cjs (anonymously, revalidated by ETag), and that file alone — copied to a directory
// outside the repository, no node_modules in reach — prints its version, logs in, creates, lists and
// destroys against the server. The Command line page shows the commands with this server's URL, and a
// server of another version gets a warning.
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createToken } from "@/lib/auth/tokens";

import { REPO_ROOT, signUp, startAppServer, type AppServer } from "../support/app-server";
import { createTestDatabase, type TestDatabase } from "../support/databases";
import { writeConfigDir } from "../support/manager-harness";

const VERSION = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { version: string }).version;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe("the CLI downloaded from the server", () => {
  let database: TestDatabase;
  let server: AppServer;
  let configDir: string;
  let dir: string;
  let token: string;
  let cookie: string;

  /** Runs `argv` in the download directory with nothing but PATH, HOME and the CLI's config file. */
  function run(argv: string[], env: Record<string, string> = {}): Promise<Run> {
    const childEnv: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: dir,
      SANDBOXER_CONFIG: path.join(dir, "config.json"),
      ...env,
    };
    return new Promise((resolve, reject) => {
      const child = spawn(argv[0]!, argv.slice(1), {
        cwd: dir,
        env: childEnv as NodeJS.ProcessEnv,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
      child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
      const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      child.once("error", reject);
      child.once("close", (code) => {
        clearTimeout(killer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
    configDir = writeConfigDir({
      includeRepoManifests: true,
      manifests: [],
      profiles: { local: { extension: "ext.local", title: "Local scratch", params: { seed: null } } },
    });
    server = await startAppServer({
      env: {
        DATABASE_URL: database.config.url,
        SANDBOXER_CONFIG_DIR: configDir,
        SANDBOXER_LOCAL_WORKSPACE_ROOT: path.join(configDir, "workspaces"),
      },
    });
    cookie = await signUp(server.url, `admin-${process.pid}@download.test`);
    const user = await database.db.user.findUniqueOrThrow({ where: { email: `admin-${process.pid}@download.test` } });
    token = (
      await createToken(database.db, user.id, { name: "download-test", scopes: ["full"], expiresAt: new Date(Date.now() + 86_400_000) })
    ).token;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "sandboxer-download-"));
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    await database?.drop();
    if (configDir) fs.rmSync(configDir, { recursive: true, force: true });
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("is served to anyone as one JavaScript file, revalidated by its ETag", async () => {
    const res = await fetch(`${server.url}/cli/sandboxer.cjs`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-cache");
    const etag = res.headers.get("etag");
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{43}"$/);
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.length).toBeGreaterThan(20_000);
    expect(body.subarray(0, 20).toString()).toBe("#!/usr/bin/env node\n");
    // No configuration of this server travels with it.
    expect(body.toString()).not.toContain(configDir);
    expect(body.toString()).not.toContain("BETTER_AUTH_SECRET=");
    fs.writeFileSync(path.join(dir, "sandboxer.cjs"), body);
    fs.writeFileSync(path.join(dir, "sandboxer"), body, { mode: 0o755 });

    const again = await fetch(`${server.url}/cli/sandboxer.cjs`, { headers: { "if-none-match": etag! } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe("");
  });

  it("runs from a directory outside the repository: --version, login, create, list, destroy", async () => {
    // Nothing of the repository is reachable from here: the file must carry everything it needs.
    expect(path.relative(REPO_ROOT, dir).startsWith("..")).toBe(true);
    expect(fs.existsSync(path.join(dir, "node_modules"))).toBe(false);

    const version = await run([process.execPath, "sandboxer.cjs", "--version"]);
    expect(version).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: "" });
    // Saved without an extension and made executable, as the install command does (the shebang finds node).
    const installed = await run([path.join(dir, "sandboxer"), "--version"], { PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin` });
    expect(installed.stdout).toBe(`${VERSION}\n`);

    const login = await run([process.execPath, "sandboxer.cjs", "login", "--url", server.url, "--token", token]);
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain(`Logged in to ${server.url} as admin-${process.pid}@download.test`);
    expect(login.stderr).toBe("");

    const created = await run([process.execPath, "sandboxer.cjs", "create", "profile.local", "--wait"]);
    expect(created.code, created.stderr).toBe(0);
    const id = created.stdout.trim();
    expect(created.stderr).toMatch(/→ ready/);

    const list = await run([process.execPath, "sandboxer.cjs", "list", "--json"]);
    expect(list.code, list.stderr).toBe(0);
    expect((JSON.parse(list.stdout) as { rows: { id: string; status: string }[] }).rows).toContainEqual(
      expect.objectContaining({ id, status: "ready" }),
    );

    const destroyed = await run([process.execPath, "sandboxer.cjs", "destroy", "--yes", id]);
    expect(destroyed.code, destroyed.stderr).toBe(0);
    expect(destroyed.stdout).toContain(`${id} destroyed`);

    // validate needs the server's extensions, which the file leaves out: it says where to run it.
    const validate = await run([process.execPath, "sandboxer.cjs", "validate"]);
    expect(validate.code).toBe(2);
    expect(validate.stderr).toContain("npx sandboxer validate");
  });

  it("the API says its version; a server of another version gets one warning, on stderr", async () => {
    const res = await fetch(`${server.url}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.headers.get("x-sandboxer-version")).toBe(VERSION);

    // A stand-in for a newer server: answers /api/v1/me with another version header.
    const other = http.createServer((req, reply) => {
      reply.writeHead(200, { "content-type": "application/json", "x-sandboxer-version": "99.0.0" });
      reply.end(JSON.stringify({ id: "u1", email: "x@example.test", name: "x", role: "member", via: "token", tokenName: "t" }));
    });
    await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
      const r = await run([process.execPath, "sandboxer.cjs", "whoami", "--json"], { SANDBOXER_URL: url, SANDBOXER_TOKEN: token });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ email: "x@example.test" });
      expect(r.stderr).toBe(
        `⚠ this sandboxer is ${VERSION}, the server runs 99.0.0; get the matching CLI: curl -fsSL -o ~/.local/bin/sandboxer ${url}/cli/sandboxer.cjs\n`,
      );
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
  });

  it("the Command line page shows the install and login commands with this server's URL", async () => {
    const page = await fetch(`${server.url}/cli`, { headers: { cookie } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain(
      `mkdir -p ~/.local/bin &amp;&amp; curl -fsSL -o ~/.local/bin/sandboxer ${server.url}/cli/sandboxer.cjs &amp;&amp; chmod +x ~/.local/bin/sandboxer`,
    );
    expect(html).toContain(`sandboxer login --url ${server.url} --token -`);
    expect(html).toContain(`href="/cli/sandboxer.cjs"`);
    // Signed out: the sign-in page, not the commands.
    const anonymous = await fetch(`${server.url}/cli`, { redirect: "manual" });
    expect(anonymous.status).toBe(307);
  });
});
