// Fixtures for the browser specs: the server's URL (from global setup), an admin session, and page
// objects. Specs that create sandboxes destroy them in their own cleanup.
import { test as base, expect } from "@playwright/test";

import { OverviewPage } from "./pages/overview-page";

export const test = base.extend<{ overview: OverviewPage }>({
  baseURL: async ({}, use) => use(process.env.E2E_BASE_URL),
  storageState: async ({}, use) => use(process.env.E2E_ADMIN_STATE),
  overview: async ({ page }, use) => use(new OverviewPage(page)),
});

export { expect };
