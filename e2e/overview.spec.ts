import { expect, test } from "./fixtures";

test.describe("overview", () => {
  test("loads for a signed-in person, with navigation and page titles", async ({ overview, page }) => {
    await overview.goto();
    await expect(overview.heading).toBeVisible();
    await expect(page).toHaveTitle(/Overview · sand-boxer/);
    for (const name of ["Overview", "Profiles", "Hosts"]) {
      await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name })).toBeVisible();
    }
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Hosts" }).click();
    await expect(page).toHaveTitle(/Hosts · sand-boxer/);
    await expect(page.getByTestId("hosts-table")).toContainText("vm-e2e1");
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

  test("an unknown sandbox is a friendly 404", async ({ page }) => {
    const res = await page.goto("/sandboxes/nosuchsandbox1");
    expect(res?.status()).toBe(404);
    await expect(page.getByRole("heading", { name: "Not found" })).toBeVisible();
  });
});
