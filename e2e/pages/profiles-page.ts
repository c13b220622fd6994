import type { Locator, Page } from "@playwright/test";

export class ProfilesPage {
  constructor(readonly page: Page) {}

  async goto(): Promise<void> {
    await this.page.goto("/profiles");
  }

  card(profileId: string): Locator {
    return this.page.getByTestId(`profile-${profileId}`);
  }

  /** Opens the create dialog of a profile, fills the inputs, submits. */
  async create(profileId: string, inputs: Record<string, string> = {}): Promise<void> {
    await this.page.getByTestId(`create-${profileId}`).click();
    const dialog = this.page.getByTestId("create-dialog");
    for (const [label, value] of Object.entries(inputs)) await dialog.getByLabel(label).fill(value);
    await dialog.getByTestId("submit-create").click();
  }
}
