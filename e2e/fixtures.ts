// Fixtures for the browser specs: the server's URL (from global setup), an admin session, and page
// objects. Specs that create sandboxes destroy them in their own cleanup.
import { test as base, expect } from "@playwright/test";

import { OverviewPage } from "./pages/overview-page";

export const test = base.extend<{ overview: OverviewPage }>({
  baseURL: async ({}, use) => use(process.env.E2E_BASE_URL),
  storageState: async ({}, use) => use(process.env.E2E_ADMIN_STATE),
  // The admin's API calls ride on the session cookie: the server takes cookie writes only with this
  // site's Origin (its cross-site check), which a browser sends by itself and an API client does not.
  request: async ({ playwright, baseURL, storageState }, use) => {
    const request = await playwright.request.newContext({
      baseURL,
      storageState,
      extraHTTPHeaders: baseURL ? { origin: new URL(baseURL).origin } : {},
    });
    await use(request);
    await request.dispose();
  },
  overview: async ({ page }, use) => use(new OverviewPage(page)),
});

export { expect };
