// Zero console errors (console.error messages, failed loads the browser reports, uncaught exceptions)
// on every page of the dashboard, signed in and anonymous, and on the 404 page. Nothing is filtered
// unless a comment says why it is outside our control.
import type { ConsoleMessage, Page } from "@playwright/test";

import { expect, test } from "./fixtures";
import { dashboardPages } from "./pages/dashboard-pages";

/** Collects the page's errors, each prefixed with the URL it was on. */
function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  const where = () => new URL(page.url()).pathname;
  page.on("console", (m: ConsoleMessage) => {
    if (m.type() === "error") errors.push(`${where()}: console.error ${m.text()} (${m.location().url})`);
  });
  page.on("pageerror", (e) => errors.push(`${where()}: uncaught ${e.name}: ${e.message}`));
  return errors;
}

test("no console errors on any dashboard page, signed in", async ({ page, context }) => {
  test.setTimeout(120_000);
  const res = await context.request.post("/api/v1/sandboxes", {
    data: { profile: "profile.local" },
    headers: { origin: new URL(process.env.E2E_BASE_URL!).origin },
  });
  expect(res.status()).toBe(202);
  const id = ((await res.json()) as { id: string }).id;
  const errors = collectErrors(page);
  try {
    for (const [url, heading] of dashboardPages(id)) {
      await page.goto(url);
      await expect(page.getByRole("heading", { level: 1, name: heading })).toBeVisible();
      // Hydrated and its stream connected: what a page does after loading has happened too.
      await expect(page.getByTestId("stream-status")).toHaveAttribute("data-live", "1");
    }
  } finally {
    await context.request.delete(`/api/v1/sandboxes/${id}`, {
      headers: { origin: new URL(process.env.E2E_BASE_URL!).origin },
      maxRetries: 2,
    });
  }
  expect(errors).toEqual([]);
});

test("no console errors on the sign-in and sign-up pages", async ({ browser, baseURL }) => {
  const context = await browser.newContext({ storageState: { cookies: [], origins: [] }, baseURL });
  const page = await context.newPage();
  const errors = collectErrors(page);
  await page.goto("/sign-in");
  await expect(page.getByRole("button", { name: "Sign in" })).toBeVisible();
  await page.goto("/sign-up");
  await expect(page.getByRole("button", { name: "Create account" })).toBeVisible();
  await context.close();
  expect(errors).toEqual([]);
});

test("no console errors on the 404 page beyond the 404 itself", async ({ page }) => {
  const errors = collectErrors(page);
  const res = await page.goto("/sandboxes/nosuchsandbox1");
  expect(res?.status()).toBe(404);
  await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
  // Chromium reports a document's own error status in the console ("Failed to load resource: … 404"):
  // that status is the page's point, and the browser's line is not ours to change. Only that line for
  // the document's own URL is left out; anything else (a missing script, an exception) still fails.
  const own = `: console.error Failed to load resource: the server responded with a status of 404 (Not Found) (${page.url()})`;
  expect(errors.filter((e) => !e.endsWith(own))).toEqual([]);
  expect(errors.length).toBeLessThanOrEqual(1);
});
