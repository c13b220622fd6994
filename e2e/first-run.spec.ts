// The quick start as a new team meets it: a fresh server on the embedded database with the repository's
// own profiles. The first visitor creates the first account (admin), sees the empty overview pointing
// to Profiles, and creates and destroys a sandbox of profile.local — no build VM, no configuration.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { REPO_ROOT, startAppServer, type AppServer } from "../tests/support/app-server";
import { expect, test } from "./fixtures";
import { SignUpPage } from "./pages/auth-pages";
import { ProfilesPage } from "./pages/profiles-page";
import { SandboxPage } from "./pages/sandbox-page";

test.describe("first run", () => {
  test.use({ storageState: { cookies: [], origins: [] } });
  let app: AppServer;
  let root: string;

  test.beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "sandboxer-first-run-"));
    const dataDir = path.join(root, "data");
    const databaseUrl = `file:${path.join(dataDir, "sandboxer.db")}`;
    execFileSync(process.execPath, ["--conditions=react-server", "--import", "tsx", "scripts/db-migrate.ts", "deploy"], {
      cwd: REPO_ROOT,
      env: { ...process.env, DATABASE_URL: databaseUrl, SANDBOXER_DATA_DIR: dataDir },
      stdio: "pipe",
    });
    // No BETTER_AUTH_SECRET and no config dir: the defaults of the quick start.
    app = await startAppServer({ env: { DATABASE_URL: databaseUrl, SANDBOXER_DATA_DIR: dataDir, BETTER_AUTH_SECRET: undefined } });
  });

  test.afterAll(async () => {
    await app?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  test("first account is admin; empty overview; a local sandbox created and destroyed", async ({ page }) => {
    await page.goto(`${app.url}/`);
    await expect(page).toHaveURL(/\/sign-up/);
    await expect(page.getByText("Create the first account")).toBeVisible();
    await new SignUpPage(page).signUp("Ada", "ada@first-run.test", "first-run-password");
    await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
    await expect(page.getByTestId("user-menu")).toContainText("admin");
    await expect(page.getByText("No active sandboxes")).toBeVisible();
    await page.getByRole("link", { name: "Browse profiles" }).click();
    const profiles = new ProfilesPage(page);
    await expect(profiles.card("profile.local")).toBeVisible();
    await expect(profiles.card("profile.vm-haskell-build")).toBeVisible();
    await profiles.create("profile.local");
    const sandbox = new SandboxPage(page);
    await sandbox.id();
    await sandbox.expectStatus("ready");
    const workspace = (await sandbox.workspacePath.textContent())!;
    expect(workspace.startsWith(path.join(root, "data", "workspaces"))).toBe(true);
    expect(fs.statSync(workspace).isDirectory()).toBe(true);
    await sandbox.destroy();
    await sandbox.expectStatus("destroyed");
    expect(fs.existsSync(workspace)).toBe(false);
    // The generated sign-in secret stays private to the server.
    expect(fs.statSync(path.join(root, "data", "auth-secret")).mode & 0o077).toBe(0);
  });
});
