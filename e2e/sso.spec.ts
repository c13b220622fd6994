// Single sign-on against a real OpenID Connect provider (the oidc-provider package) on loopback,
// with its development login and consent pages. The app under test is a second server started with
// SANDBOXER_OIDC_* set, on its own database.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";

import Provider from "oidc-provider";

import { REPO_ROOT, startAppServer, type AppServer } from "../tests/support/app-server";
import { freeLoopbackPort } from "../tests/support/build-vms";
import { expect, test } from "./fixtures";

test.describe("single sign-on", () => {
  test.use({ storageState: { cookies: [], origins: [] } });
  let idp: http.Server;
  let app: AppServer;
  let root: string;

  test.beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "sandboxer-sso-"));
    const idpPort = await freeLoopbackPort();
    const appPort = await freeLoopbackPort();
    const appUrl = `http://127.0.0.1:${appPort}`;
    const issuer = `http://127.0.0.1:${idpPort}`;
    const provider = new Provider(issuer, {
      clients: [
        {
          client_id: "sand-boxer",
          client_secret: "sso-test-secret",
          redirect_uris: [`${appUrl}/api/auth/callback/oidc`, `${appUrl}/api/auth/oauth2/callback/oidc`],
          grant_types: ["authorization_code"],
          response_types: ["code"],
          token_endpoint_auth_method: "client_secret_basic",
        },
      ],
      claims: { email: ["email", "email_verified"], profile: ["name"] },
      cookies: { keys: ["sso-test-cookie-key"] },
      pkce: { required: () => false },
      async findAccount(_ctx, sub) {
        return { accountId: sub, claims: async () => ({ sub, email: `${sub}@sso.test`, email_verified: true, name: `SSO ${sub}` }) };
      },
    });
    provider.proxy = false;
    idp = http.createServer(provider.callback());
    await new Promise<void>((resolve) => idp.listen(idpPort, "127.0.0.1", resolve));

    const dataDir = path.join(root, "data");
    const databaseUrl = `file:${path.join(dataDir, "sso.db")}`;
    execFileSync(process.execPath, ["--conditions=react-server", "--import", "tsx", "scripts/db-migrate.ts", "deploy"], {
      cwd: REPO_ROOT,
      env: { ...process.env, DATABASE_URL: databaseUrl, SANDBOXER_DATA_DIR: dataDir },
      stdio: "pipe",
    });
    app = await startAppServer({
      port: appPort,
      env: {
        DATABASE_URL: databaseUrl,
        SANDBOXER_DATA_DIR: dataDir,
        SANDBOXER_OIDC_ISSUER: issuer,
        SANDBOXER_OIDC_CLIENT_ID: "sand-boxer",
        SANDBOXER_OIDC_CLIENT_SECRET: "sso-test-secret",
        SANDBOXER_OIDC_NAME: "Test SSO",
        SANDBOXER_ALLOW_SIGNUP: "off",
      },
    });
  });

  test.afterAll(async () => {
    await app?.stop();
    await new Promise((r) => idp?.close(r));
    fs.rmSync(root, { recursive: true, force: true });
  });

  test("signs a person in through the OpenID Connect provider", async ({ page }) => {
    await page.goto(`${app.url}/sign-in`);
    await page.getByTestId("sso").click();
    // The provider's own login page (development interactions).
    await page.locator('input[name="login"]').fill("carol");
    await page.locator('input[name="password"]').fill("anything");
    await page.getByRole("button", { name: "Sign-in" }).click();
    await page.getByRole("button", { name: "Continue" }).click();
    await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible({ timeout: 20_000 });
    await expect(page.getByTestId("user-menu")).toContainText("carol@sso.test");
    const res = await page.request.get(`${app.url}/api/v1/sandboxes?mine=1`);
    expect(res.status()).toBe(200);
  });
});
