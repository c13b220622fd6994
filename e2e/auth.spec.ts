import fs from "node:fs";

import { expect, test } from "./fixtures";
import { SignInPage, SignUpPage } from "./pages/auth-pages";
import { ProfilesPage } from "./pages/profiles-page";
import { SandboxPage } from "./pages/sandbox-page";

test.describe("sign-in and roles", () => {
  test.use({ storageState: { cookies: [], origins: [] } });

  test("a new person signs up, creates and destroys their own sandbox, signs out and back in", async ({ page }) => {
    const email = `member-${Date.now()}@e2e.test`;
    const signUp = new SignUpPage(page);
    await signUp.goto();
    await signUp.signUp("Member", email, "member-password-1");
    await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
    await expect(page.getByTestId("user-menu")).toContainText(email);
    await expect(page.getByTestId("user-menu")).toContainText("member");
    // Members see no admin navigation.
    await expect(page.getByRole("link", { name: "Audit log" })).toHaveCount(0);

    const profiles = new ProfilesPage(page);
    await profiles.goto();
    await profiles.create("profile.local");
    const sandbox = new SandboxPage(page);
    const id = await sandbox.id();
    await sandbox.expectStatus("ready");
    const workspace = (await sandbox.workspacePath.textContent())!;
    expect(workspace).toMatch(new RegExp(`/sbx-${id}$`));
    expect(fs.statSync(workspace).isDirectory()).toBe(true);
    const preview = await sandbox.destroy();
    expect(preview).toContain(workspace);
    await sandbox.expectStatus("destroyed");
    expect(fs.existsSync(workspace)).toBe(false);

    await page.getByTestId("user-menu").click();
    await page.getByRole("menuitem", { name: "Sign out" }).click();
    await expect(page).toHaveURL(/\/sign-in/);
    const signIn = new SignInPage(page);
    await signIn.signIn(email, "wrong-password");
    await expect(page.getByTestId("auth-error")).toBeVisible();
    await signIn.signIn(email, "member-password-1");
    await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
  });
});

test.describe("admin", () => {
  test("bulk-destroys sandboxes from the overview, seeing every teardown path first", async ({ page, overview, request, baseURL }) => {
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const res = await request.post(`${baseURL}/api/v1/sandboxes`, { data: { profile: "profile.local" } });
      expect(res.status()).toBe(202);
      ids.push(((await res.json()) as { id: string }).id);
    }
    await overview.goto();
    for (const id of ids) await expect(overview.statusOf(id)).toHaveAttribute("data-status", "ready", { timeout: 20_000 });
    for (const id of ids) await page.getByLabel(`Select ${id}`).check();
    await page.getByTestId("bulk-destroy").click();
    const dialog = page.getByRole("alertdialog");
    for (const id of ids) await expect(dialog).toContainText(`sbx-${id}`);
    await page.getByTestId("confirm-bulk-destroy").click();
    // The rows leave "ready" at once (destroying, or gone from the active list once destroyed).
    for (const id of ids) await expect(page.locator(`[data-testid="row-${id}"][data-status="ready"]`)).toHaveCount(0);
    await overview.goto("?status=destroyed");
    for (const id of ids) await expect(overview.statusOf(id)).toHaveAttribute("data-status", "destroyed", { timeout: 20_000 });
  });

  test("reads the audit log", async ({ page }) => {
    await page.goto("/admin/audit");
    await expect(page.getByRole("heading", { name: "Audit log" })).toBeVisible();
    await expect(page.getByTestId("audit-table")).toContainText("sandbox.teardown");
    // The filter form's selects are the kit's (a hidden native select carries each value): "any" is no filter.
    await page.getByRole("combobox", { name: "Result" }).click();
    await page.getByRole("option", { name: "ok", exact: true }).click();
    await page.getByRole("button", { name: "Filter" }).click();
    await expect(page).toHaveURL(/[?&]result=ok\b/);
    await expect(page).toHaveURL(/[?&]action=any\b/);
    await expect(page.getByTestId("audit-table")).toContainText("sandbox.teardown");
  });
});
