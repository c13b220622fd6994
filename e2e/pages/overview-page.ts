import type { Locator, Page } from "@playwright/test";

export class OverviewPage {
  readonly heading: Locator;
  readonly table: Locator;
  readonly emptyState: Locator;

  constructor(readonly page: Page) {
    this.heading = page.getByRole("heading", { name: "Overview" });
    this.table = page.getByTestId("sandbox-table");
    this.emptyState = page.getByText("No active sandboxes");
  }

  async goto(query = ""): Promise<void> {
    await this.page.goto(`/${query}`);
  }

  row(id: string): Locator {
    return this.page.getByTestId(`row-${id}`);
  }

  statusOf(id: string): Locator {
    return this.row(id).getByTestId("status-badge");
  }
}
