import { expect, test } from "./fixtures";

test.describe("overview", () => {
  test("loads for a signed-in person, with navigation and an empty state that points to profiles", async ({ overview, page }) => {
    await overview.goto();
    await expect(overview.heading).toBeVisible();
    await expect(page).toHaveTitle(/Overview · sand-boxer/);
    for (const name of ["Overview", "Profiles", "Hosts"]) {
      await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name })).toBeVisible();
    }
    await expect(overview.emptyState).toBeVisible();
    await page.getByRole("link", { name: "Browse profiles" }).click();
    await expect(page.getByRole("heading", { name: "Profiles" })).toBeVisible();
    await expect(page.getByTestId("profile-profile.local")).toBeVisible();
  });

  test("sends an anonymous visitor to sign in", async ({ browser, baseURL }) => {
    const context = await browser.newContext({ storageState: { cookies: [], origins: [] }, baseURL });
    const page = await context.newPage();
    const res = await page.goto("/");
    expect(res?.ok()).toBe(true);
    await expect(page).toHaveURL(/\/sign-in/);
    await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();
    await context.close();
  });
});
