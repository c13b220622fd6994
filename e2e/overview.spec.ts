import AxeBuilder from "@axe-core/playwright";
import type { Page } from "@playwright/test";

import { ADMIN_EMAIL } from "./global-setup";
import { expect, test } from "./fixtures";
import { dashboardPages } from "./pages/dashboard-pages";

/** axe-core's serious and critical findings on the page as it is now, one line each (AXE_DEBUG=1 adds markup and why). */
async function seriousFindings(page: Page, include?: string): Promise<string[]> {
  const builder = new AxeBuilder({ page });
  if (include) builder.include(include);
  const { violations } = await builder.analyze();
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map(
      (v) =>
        `${v.impact} ${v.id}: ${v.help} — ${v.nodes
          .map((n) => `${n.target.join(" ")}${process.env.AXE_DEBUG ? ` ${n.html.slice(0, 200)} ${n.failureSummary ?? ""}` : ""}`)
          .slice(0, 4)
          .join(" | ")}`,
    );
}

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

  test("has a favicon: the page links it, it and the /favicon.ico fallback are served (no 404 in the console)", async ({
    overview,
    page,
    request,
  }) => {
    const failed: string[] = [];
    page.on("response", (r) => {
      if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
    });
    await overview.goto();
    const href = await page.locator('link[rel="icon"]').first().getAttribute("href");
    expect(href).toMatch(/^\/favicon\.svg/);
    const icon = await request.get(href!);
    expect(icon.status()).toBe(200);
    expect(icon.headers()["content-type"]).toContain("image/svg+xml");
    // The fallback a browser fetches when a page names no icon at that moment (Chromium does after
    // Next.js replaces a 404 page's head; e2e/console.spec.ts) and other agents fetch unasked.
    const ico = await request.get("/favicon.ico");
    expect(ico.status()).toBe(200);
    expect(ico.headers()["content-type"]).toBe("image/x-icon");
    expect((await ico.body()).subarray(0, 4)).toEqual(Buffer.from([0, 0, 1, 0]));
    expect(failed).toEqual([]);
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

  test("filters with the component kit: Select for owner and profile, Checkbox for Mine, all in the URL", async ({
    overview,
    page,
    request,
    baseURL,
  }) => {
    // A sandbox of the admin's own, so the overview shows its table and filters rather than the empty state.
    const res = await request.post(`${baseURL}/api/v1/sandboxes`, { data: { profile: "profile.local" } });
    expect(res.status()).toBe(202);
    const id = ((await res.json()) as { id: string }).id;
    try {
      await overview.goto();
      await expect(overview.row(id)).toBeVisible();
      await expect(page.getByTestId("count-active")).toHaveAttribute("aria-pressed", "true");

      await page.getByRole("combobox", { name: "Profile" }).click();
      await page.getByRole("option", { name: "Local scratch workspace" }).click();
      await expect(page).toHaveURL(/[?&]profile=profile\.local\b/);
      await expect(page.getByRole("combobox", { name: "Profile" })).toHaveText("Local scratch workspace");
      await expect(overview.row(id)).toBeVisible();

      await page.getByRole("combobox", { name: "Owner" }).click();
      await page.getByRole("option", { name: ADMIN_EMAIL }).click();
      await expect(page).toHaveURL(/[?&]owner=/);
      await expect(overview.row(id)).toBeVisible();

      // The filters live in the URL: the box shows checked once the page has navigated (so click, not check()).
      const mine = page.getByRole("checkbox", { name: "Mine" });
      await mine.click();
      await expect(page).toHaveURL(/[?&]mine=1\b/);
      await expect(mine).toHaveAttribute("aria-checked", "true");
      await page.getByText("Mine", { exact: true }).click();
      await expect(page).not.toHaveURL(/mine=1/);
      await expect(mine).toHaveAttribute("aria-checked", "false");

      // "Any profile" turns that filter off again (the kit's Select has no empty value).
      await page.getByRole("combobox", { name: "Profile" }).click();
      await page.getByRole("option", { name: "Any profile" }).click();
      await expect(page).not.toHaveURL(/profile=/);
    } finally {
      await request.delete(`${baseURL}/api/v1/sandboxes/${id}`, { maxRetries: 2 });
    }
  });

  test("the main pages have no serious or critical accessibility findings (axe-core)", async ({ page, request, baseURL }) => {
    const res = await request.post(`${baseURL}/api/v1/sandboxes`, { data: { profile: "profile.local" } });
    expect(res.status()).toBe(202);
    const id = ((await res.json()) as { id: string }).id;
    try {
      const pages = dashboardPages(id);
      const findings: string[] = [];
      for (const [url, heading] of pages) {
        await page.goto(url);
        await expect(page.getByRole("heading", { level: 1, name: heading })).toBeVisible();
        for (const f of await seriousFindings(page)) findings.push(`${url}: ${f}`);
      }
      // An open Select: its listbox is portalled outside the page's tree. (The rest of the page is
      // aria-hidden meanwhile, as Radix does for anything modal, and focus stays in the listbox.)
      await page.goto("/");
      await page.getByRole("combobox", { name: "Owner" }).click();
      await expect(page.getByRole("listbox")).toBeVisible();
      for (const f of await seriousFindings(page, "[role=listbox]")) findings.push(`/ (Owner open): ${f}`);
      // The dark theme (it follows the system's preference) on the pages with the most colour.
      await page.emulateMedia({ colorScheme: "dark" });
      for (const [url, heading] of pages.slice(0, 3)) {
        await page.goto(url);
        await expect(page.getByRole("heading", { level: 1, name: heading })).toBeVisible();
        for (const f of await seriousFindings(page)) findings.push(`${url} (dark): ${f}`);
      }
      expect(findings).toEqual([]);
    } finally {
      await request.delete(`${baseURL}/api/v1/sandboxes/${id}`, { maxRetries: 2 });
    }
  });

  test("the sign-in page has no serious or critical accessibility findings (axe-core)", async ({ browser, baseURL }) => {
    const context = await browser.newContext({ storageState: { cookies: [], origins: [] }, baseURL });
    const page = await context.newPage();
    await page.goto("/sign-in");
    await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();
    expect(await seriousFindings(page)).toEqual([]);
    await context.close();
  });
});
