// Browser-test setup: a fresh data directory and SQLite database, the repository's profiles, the
// built app on a free loopback port, and a first (admin) account whose session later specs reuse.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { REPO_ROOT, signUp, startAppServer } from "../tests/support/app-server";

export const ADMIN_EMAIL = "admin@e2e.test";
export const PASSWORD = "correct-horse-battery";

export default async function globalSetup(): Promise<() => Promise<void>> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "sandboxer-e2e-"));
  const dataDir = path.join(root, "data");
  const configDir = path.join(root, "config");
  fs.mkdirSync(dataDir, { recursive: true });
  fs.cpSync(path.join(REPO_ROOT, "extensions"), path.join(configDir, "extensions"), { recursive: true });
  fs.cpSync(path.join(REPO_ROOT, "profiles"), path.join(configDir, "profiles"), { recursive: true });
  const databaseUrl = `file:${path.join(dataDir, "e2e.db")}`;
  execFileSync(process.execPath, ["--conditions=react-server", "--import", "tsx", "scripts/db-migrate.ts", "deploy"], {
    cwd: REPO_ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl, SANDBOXER_DATA_DIR: dataDir },
    stdio: "pipe",
  });
  const server = await startAppServer({
    env: {
      DATABASE_URL: databaseUrl,
      SANDBOXER_DATA_DIR: dataDir,
      SANDBOXER_CONFIG_DIR: configDir,
      SANDBOXER_LOCAL_WORKSPACE_ROOT: path.join(root, "workspaces"),
    },
  });
  const cookie = await signUp(server.url, ADMIN_EMAIL, PASSWORD, "E2E Admin");
  const storage = path.join(root, "admin-state.json");
  fs.writeFileSync(
    storage,
    JSON.stringify({
      cookies: cookie.split("; ").map((c) => {
        const i = c.indexOf("=");
        return { name: c.slice(0, i), value: c.slice(i + 1), domain: "127.0.0.1", path: "/", expires: -1, httpOnly: true, secure: false, sameSite: "Lax" };
      }),
      origins: [],
    }),
  );
  process.env.E2E_BASE_URL = server.url;
  process.env.E2E_ROOT = root;
  process.env.E2E_ADMIN_STATE = storage;
  process.env.E2E_DATABASE_URL = databaseUrl;
  return async () => {
    await server.stop();
    if (process.env.E2E_KEEP !== "1") fs.rmSync(root, { recursive: true, force: true });
  };
}
