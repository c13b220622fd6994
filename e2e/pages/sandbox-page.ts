import { expect, type Locator, type Page } from "@playwright/test";

export class SandboxPage {
  readonly status: Locator;
  readonly log: Locator;
  readonly workspacePath: Locator;

  constructor(readonly page: Page) {
    this.status = page.getByTestId("status-badge").first();
    this.log = page.getByTestId("log");
    this.workspacePath = page.getByTestId("workspace-path");
  }

  /** The id from the URL (/sandboxes/<id>). */
  async id(): Promise<string> {
    await this.page.waitForURL(/\/sandboxes\/[a-z0-9]+$/);
    return this.page.url().split("/").at(-1)!;
  }

  async expectStatus(status: string, timeout = 30_000): Promise<void> {
    await expect(this.status).toHaveAttribute("data-status", status, { timeout });
  }

  /** Clicks Destroy and returns the teardown preview's text before confirming. */
  async destroy(): Promise<string> {
    await this.page
      .getByRole("button", { name: /^(Destroy|Retry destroy)$/ })
      .first()
      .click();
    const dialog = this.page.getByTestId("destroy-dialog");
    await expect(dialog).toBeVisible();
    const preview = (await dialog.getByTestId("teardown-preview").textContent()) ?? "";
    await dialog.getByTestId("confirm-destroy").click();
    return preview;
  }
}
