// The dashboard under its Content-Security-Policy (issue 14, item 6): every page's scripts carry the
// response's nonce, so the browser runs them (the menus open, a create reaches the sandbox page over
// the event stream) and reports no violation anywhere.
import type { Page } from "@playwright/test";

import { expect, test } from "./fixtures";
import { SignInPage } from "./pages/auth-pages";
import { ProfilesPage } from "./pages/profiles-page";
import { SandboxPage } from "./pages/sandbox-page";

/** Everything the browser says about the policy: console reports and securitypolicyviolation events. */
async function watchViolations(page: Page): Promise<string[]> {
  const seen: string[] = [];
  page.on("console", (m) => {
    if (/content security policy|refused to (load|execute|apply|connect|frame)/i.test(m.text())) seen.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => seen.push(`pageerror: ${e.message}`));
  await page.exposeFunction("__reportCspViolation", (v: string) => seen.push(`event: ${v}`));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      (window as unknown as { __reportCspViolation: (v: string) => void }).__reportCspViolation(
        `${e.violatedDirective} blocked ${e.blockedURI || "inline"} on ${location.pathname}`,
      );
    });
  });
  return seen;
}

test.describe("content security policy", () => {
  test("every dashboard page runs under a nonce-based policy with no violation", async ({ page }) => {
    const violations = await watchViolations(page);
    for (const path of ["/", "/profiles", "/hosts", "/images", "/admin/users", "/admin/audit", "/settings/tokens", "/docs/operations"]) {
      const res = await page.goto(path);
      expect(res?.status(), path).toBe(200);
      const csp = (await res!.allHeaders())["content-security-policy"] ?? "";
      expect(csp, path).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/=]+' 'strict-dynamic'/);
      expect(csp, path).toContain("frame-ancestors 'none'");
      // Hydrated: the name menu is a client component that opens only when React runs.
      await page.getByTestId("user-menu").click();
      await expect(page.getByRole("menuitem", { name: "Sign out" }), path).toBeVisible();
      await page.keyboard.press("Escape");
    }
    const missing = await page.goto("/sandboxes/nosuchsandbox1");
    expect(missing?.status()).toBe(404);
    await expect(page.getByRole("heading", { name: "Not found" })).toBeVisible();
    expect(violations).toEqual([]);
  });

  test("a create from the profiles page reaches the sandbox page live, with no violation", async ({ page, request }) => {
    const violations = await watchViolations(page);
    const profiles = new ProfilesPage(page);
    await profiles.goto();
    await profiles.create("profile.local");
    const sandbox = new SandboxPage(page);
    const id = await sandbox.id();
    await sandbox.expectStatus("ready");
    expect(violations).toEqual([]);
    await request.delete(`/api/v1/sandboxes/${id}`, { maxRetries: 2 });
  });

  test("the sign-in page works for an anonymous visitor under the policy", async ({ browser, baseURL }) => {
    const context = await browser.newContext({ storageState: { cookies: [], origins: [] }, baseURL });
    const page = await context.newPage();
    const violations = await watchViolations(page);
    const signIn = new SignInPage(page);
    await signIn.goto();
    await signIn.signIn("nobody@e2e.test", "not-the-password-1");
    await expect(page.getByTestId("auth-error")).toBeVisible();
    expect(violations).toEqual([]);
    await context.close();
  });
});
