// The API tokens page in a browser (issue 14, item 5): an admin creates a read-only token with the
// admin scope and a 7-day life, sees its scopes and expiry in the list, uses it (a GET works and
// carries admin powers, a write is refused naming the full scope), and revokes it.
import { expect, test } from "./fixtures";

test.describe("API tokens", () => {
  test("create a scoped token with an expiry, use it within its scopes, revoke it", async ({ page, playwright, baseURL }) => {
    const name = `e2e-read-${Date.now()}`;
    await page.goto("/settings/tokens");
    await expect(page.getByRole("heading", { name: "API tokens" })).toBeVisible();
    await page.getByLabel("Name").fill(name);
    await page.getByRole("combobox", { name: "Scope" }).click();
    await page.getByRole("option", { name: /^read — / }).click();
    await page.getByRole("combobox", { name: "Expires after" }).click();
    await page.getByRole("option", { name: "7 days", exact: true }).click();
    await page.getByTestId("token-admin").check();
    await page.getByTestId("create-token").click();
    await expect(page.getByTestId("new-token")).toContainText(`Token “${name}” (read admin)`);
    const value = (await page.getByTestId("new-token-value").textContent())?.trim() ?? "";
    expect(value).toMatch(/^sbx_[A-Za-z0-9_-]{43}$/);

    const row = page.getByRole("row").filter({ hasText: name });
    await expect(row.getByTestId("token-scopes")).toHaveText(/read\s*admin/);
    await expect(row.getByTestId("token-expires")).toHaveText(/^(7d|6d 23h) left$/);

    // The token on its own (no cookie): a GET works with admin powers, a write is refused.
    const api = await playwright.request.newContext({ baseURL, extraHTTPHeaders: { authorization: `Bearer ${value}` } });
    try {
      const me = await api.get("/api/v1/me");
      expect(me.status()).toBe(200);
      expect(await me.json()).toMatchObject({ role: "admin", via: "token", tokenScopes: ["read", "admin"] });
      expect((await api.get("/api/v1/hosts")).status()).toBe(200);
      const write = await api.post("/api/v1/sandboxes", { data: { profile: "profile.local" } });
      expect(write.status()).toBe(403);
      expect(await write.json()).toMatchObject({ code: "TOKEN_SCOPE" });

      await row.getByRole("button", { name: "Revoke" }).click();
      await expect(row).toContainText("revoked");
      expect((await api.get("/api/v1/me")).status()).toBe(401);
    } finally {
      await api.dispose();
    }
  });
});
