import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { checkDataDir, parseDatabaseUrl, parseEnv, redactUrl, restrictDataFiles } from "./env";

describe("the environment", () => {
  it("defaults to the embedded database in ./data, resolved to an absolute path", () => {
    const e = parseEnv({}, "/srv/app");
    expect(e.database).toEqual({ provider: "sqlite", url: "file:/srv/app/data/sandboxer.db", file: "/srv/app/data/sandboxer.db" });
    expect(e.dataDir).toBe("/srv/app/data");
    expect(e.localWorkspaceRoot).toBe("/srv/app/data/workspaces");
    expect(e.publicUrl).toBe("http://127.0.0.1:3000");
    expect(e.SANDBOXER_WORKER).toBe(true);
  });

  it("puts the embedded database in SANDBOXER_DATA_DIR when DATABASE_URL is not set", () => {
    const e = parseEnv({ SANDBOXER_DATA_DIR: "/var/lib/sandboxer" }, "/srv/app");
    expect(e.database).toEqual({
      provider: "sqlite",
      url: "file:/var/lib/sandboxer/sandboxer.db",
      file: "/var/lib/sandboxer/sandboxer.db",
    });
    // An explicit DATABASE_URL still wins.
    expect(parseEnv({ SANDBOXER_DATA_DIR: "/var/lib/sandboxer", DATABASE_URL: "file:./db/x.db" }, "/srv/app").database).toMatchObject({
      file: "/srv/app/db/x.db",
    });
    expect(e.localWorkspaceRoot).toBe("/var/lib/sandboxer/workspaces");
  });

  it("switches to PostgreSQL on a postgres URL", () => {
    expect(parseDatabaseUrl("postgresql://u:p@127.0.0.1:5432/sbx", "/")).toEqual({
      provider: "postgresql",
      url: "postgresql://u:p@127.0.0.1:5432/sbx",
    });
    expect(parseDatabaseUrl("postgres://127.0.0.1/sbx", "/").provider).toBe("postgresql");
  });

  it.each([
    ["mysql://127.0.0.1/x", "neither file:"],
    ["file:", "names no database file"],
    ["postgresql://127.0.0.1:5432", "names no database"],
    ["postgresql://", "no host"],
  ])("refuses DATABASE_URL=%s naming the variable", (url, why) => {
    expect(() => parseEnv({ DATABASE_URL: url }, "/")).toThrow(/DATABASE_URL/);
    expect(() => parseEnv({ DATABASE_URL: url }, "/")).toThrow(why);
  });

  it("never prints a database password", () => {
    expect(redactUrl("postgresql://user:hunter2@db:5432/x")).toBe("postgresql://user:***@db:5432/x");
    let error: unknown;
    try {
      parseEnv({ DATABASE_URL: "postgresql://user:hunter2@127.0.0.1:5432" }, "/");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(Error);
    const { message, details } = error as Error & { details?: unknown };
    expect(message).toMatch(/DATABASE_URL/);
    expect(message).toContain("user:***@127.0.0.1");
    expect(message).not.toContain("hunter2");
    expect(JSON.stringify(details ?? null)).not.toContain("hunter2");
  });

  it.each([
    [{ PORT: "http" }, "PORT"],
    [{ SANDBOXER_LEASE: "soon" }, "SANDBOXER_LEASE"],
    [{ SANDBOXER_WORKER: "maybe" }, "SANDBOXER_WORKER"],
    [{ SANDBOXER_TUNNEL_PORTS: "9-1" }, "SANDBOXER_TUNNEL_PORTS"],
    [{ SANDBOXER_OIDC_ISSUER: "https://id.example.test" }, "SANDBOXER_OIDC_CLIENT_ID"],
  ])("names the bad variable: %j", (source, name) => {
    expect(() => parseEnv(source, "/")).toThrow(name);
  });

  it("checks the data directory without creating anything, and creates it only when asked", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "env-test-"));
    const e = parseEnv({ SANDBOXER_DATA_DIR: path.join(tmp, "a", "data") }, tmp);
    checkDataDir(e);
    expect(fs.existsSync(path.join(tmp, "a"))).toBe(false);
    checkDataDir(e, { create: true });
    expect(fs.statSync(path.join(tmp, "a", "data")).isDirectory()).toBe(true);
    fs.rmSync(tmp, { recursive: true });
  });

  it("refuses a data directory that cannot be written, naming it", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "env-test-"));
    fs.writeFileSync(path.join(tmp, "file"), "x");
    const underFile = parseEnv({ SANDBOXER_DATA_DIR: path.join(tmp, "file", "data") }, tmp);
    expect(() => checkDataDir(underFile)).toThrow(/SANDBOXER_DATA_DIR: cannot create .*file\/data: .*file is not a directory/);
    // /proc refuses mkdir even for root: an unwritable place on any Linux machine.
    const proc = parseEnv({ SANDBOXER_DATA_DIR: "/proc/sandboxer-data" }, tmp);
    expect(() => checkDataDir(proc)).toThrow("SANDBOXER_DATA_DIR: cannot create /proc/sandboxer-data: /proc is not writable");
    fs.rmSync(tmp, { recursive: true });
  });

  it(".env.example says what sign-up off really does (no first account either; admin:create makes one)", () => {
    const text = fs.readFileSync(path.join(import.meta.dirname, "..", ".env.example"), "utf8");
    const lines = text.split("\n");
    const at = lines.findIndex((l) => l.startsWith("SANDBOXER_ALLOW_SIGNUP="));
    let from = at;
    while (from > 0 && lines[from - 1]!.startsWith("# ") && !lines[from - 1]!.includes("BETTER_AUTH_SECRET")) from--;
    const comment = lines.slice(from, at).join(" ");
    expect(comment).not.toMatch(/first account is always allowed/i);
    expect(comment).toMatch(/not even the first/i);
    expect(comment).toContain("npm run admin:create");
  });

  it("keeps the data directory 0700 and the embedded database 0600 (tightening an older 0755/0644)", () => {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), "env-modes-"));
    try {
      const fresh = parseEnv({ SANDBOXER_DATA_DIR: "fresh" }, parent);
      checkDataDir(fresh, { create: true });
      expect(fs.statSync(fresh.dataDir).mode & 0o777).toBe(0o700);

      const old = parseEnv({ SANDBOXER_DATA_DIR: "old", DATABASE_URL: "file:./old/sandboxer.db" }, parent);
      fs.mkdirSync(old.dataDir, { mode: 0o755 });
      fs.chmodSync(old.dataDir, 0o755);
      for (const f of ["sandboxer.db", "sandboxer.db-wal"]) fs.writeFileSync(path.join(old.dataDir, f), "", { mode: 0o644 });
      expect(restrictDataFiles(old).sort()).toEqual(
        [old.dataDir, `${old.database.url.slice(5)}`, `${old.database.url.slice(5)}-wal`].sort(),
      );
      expect(fs.statSync(old.dataDir).mode & 0o777).toBe(0o700);
      expect(fs.statSync(path.join(old.dataDir, "sandboxer.db")).mode & 0o777).toBe(0o600);
      expect(fs.statSync(path.join(old.dataDir, "sandboxer.db-wal")).mode & 0o777).toBe(0o600);
      expect(restrictDataFiles(old)).toEqual([]); // already tight: nothing to do
    } finally {
      fs.rmSync(parent, { recursive: true, force: true });
    }
  });
});

describe("SSH gateway variables", () => {
  it("default to 127.0.0.1:2022, public host from the public URL; off turns it off; bad values name the variable", () => {
    const base = { BETTER_AUTH_URL: "https://sbx.example.test" };
    const e = parseEnv(base, "/srv");
    expect(e.sshGateway).toEqual({ host: "127.0.0.1", port: 2022 });
    expect(e.sshGatewayPublic).toEqual({ host: "sbx.example.test", port: 2022 });
    expect(parseEnv({ ...base, SANDBOXER_SSH_GATEWAY: "off" }, "/srv").sshGateway).toBeNull();
    expect(parseEnv({ ...base, SANDBOXER_SSH_GATEWAY: "[::1]:2200", SANDBOXER_SSH_GATEWAY_PUBLIC: "gw.test:22" }, "/srv")).toMatchObject({
      sshGateway: { host: "::1", port: 2200 },
      sshGatewayPublic: { host: "gw.test", port: 22 },
    });
    expect(() => parseEnv({ ...base, SANDBOXER_SSH_GATEWAY: "2022" }, "/srv")).toThrow(/SANDBOXER_SSH_GATEWAY: "2022" is not host:port/);
    expect(() => parseEnv({ ...base, SANDBOXER_SSH_GATEWAY_PUBLIC: "x:99999" }, "/srv")).toThrow(/SANDBOXER_SSH_GATEWAY_PUBLIC/);
  });
});

describe("API token lifetimes", () => {
  it("default to 90 days, at most 365; bad or inconsistent values name the variable", () => {
    const e = parseEnv({}, "/srv");
    expect(e.SANDBOXER_TOKEN_TTL_DEFAULT).toBe(90 * 86_400_000);
    expect(e.SANDBOXER_TOKEN_TTL_MAX).toBe(365 * 86_400_000);
    expect(parseEnv({ SANDBOXER_TOKEN_TTL_DEFAULT: "7d", SANDBOXER_TOKEN_TTL_MAX: "30d" }, "/srv").SANDBOXER_TOKEN_TTL_MAX).toBe(
      30 * 86_400_000,
    );
    expect(() => parseEnv({ SANDBOXER_TOKEN_TTL_MAX: "30d" }, "/srv")).toThrow(
      /SANDBOXER_TOKEN_TTL_DEFAULT is longer than SANDBOXER_TOKEN_TTL_MAX/,
    );
    expect(() => parseEnv({ SANDBOXER_TOKEN_TTL_DEFAULT: "forever" }, "/srv")).toThrow(
      /SANDBOXER_TOKEN_TTL_DEFAULT: "forever" is not a duration/,
    );
    expect(() => parseEnv({ SANDBOXER_TOKEN_TTL_DEFAULT: "10s" }, "/srv")).toThrow(/SANDBOXER_TOKEN_TTL_DEFAULT must be at least 1m/);
  });
});
