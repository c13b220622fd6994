// Hosts and images in the browser: an admin adds a build VM, sees the key it offers, a wrong
// fingerprint is refused, the right one pinned and the host checked; edits a dashboard host (a move
// to another port asks for the key again; hosts.yaml hosts offer no edit); an image build's log
// streams into the page while Packer runs.
import type { Page } from "@playwright/test";

import { startRelay } from "../bench/relay";
import { expect, test } from "./fixtures";

const vm2 = () => JSON.parse(process.env.E2E_VM2 ?? "{}") as { host: string; port: number; user: string; root: string; key: string };
const vm1 = () => JSON.parse(process.env.E2E_VM1 ?? "{}") as { host: string; port: number; key: string };

async function healthy(page: Page, id: string): Promise<void> {
  await expect(async () => {
    await page.reload();
    await expect(page.getByTestId(`host-${id}`)).toContainText("healthy", { timeout: 1_000 });
  }).toPass({ timeout: 30_000 });
}

test("add a host and confirm its key in the browser", async ({ page }) => {
  const vm = vm2();
  await page.goto("/hosts");
  await page.getByTestId("add-host").click();
  await page.getByLabel("Id").fill("added-e2e2");
  await page.getByLabel("Address").fill(vm.host);
  await page.getByLabel("SSH port").fill(String(vm.port));
  await page.getByLabel("User").fill(vm.user);
  await page.getByLabel("Labels").fill("added");
  await page.getByLabel("Workspace root").fill(vm.root);
  await page.getByRole("button", { name: "Connect and show its key" }).click();
  const dialog = page.getByTestId("confirm-key-dialog");
  await expect(dialog.getByTestId("offered-fingerprint")).toHaveText(vm.key);
  await expect(dialog).toContainText("ssh-keygen -lf");
  // A wrong fingerprint (another VM's, say) is refused and nothing is pinned.
  await dialog.getByLabel("Fingerprint read on the VM").fill(`SHA256:${"B".repeat(43)}`);
  await dialog.getByRole("button", { name: "Pin this key" }).click();
  await expect(dialog.getByRole("alert")).toContainText("is not the key added-e2e2 offered");
  await dialog.getByLabel("Fingerprint read on the VM").fill(vm.key);
  await dialog.getByRole("button", { name: "Pin this key" }).click();
  await expect(dialog).toBeHidden();
  const row = page.getByTestId("host-added-e2e2");
  await expect(row).toContainText("dashboard");
  await healthy(page, "added-e2e2");
  await expect(page.getByTestId("host-added-e2e2")).toContainText(vm.key);
  // Clean up: it is the dashboard's own host, removable while empty.
  page.once("dialog", (d) => void d.accept());
  await page.getByTestId("remove-added-e2e2").click();
  await expect(page.getByTestId("host-added-e2e2")).toBeHidden();
});

test("edit a dashboard host in the browser: labels and capacity, a bad value named, a new address's key confirmed", async ({ page }) => {
  const vm = vm2();
  const other = vm1();
  await page.goto("/hosts");
  // hosts.yaml hosts are configuration as code: marked, and no edit.
  await expect(page.getByTestId("source-vm-e2e2")).toContainText("hosts.yaml (edit the file)");
  await expect(page.getByTestId("edit-vm-e2e2")).toHaveCount(0);
  await page.getByTestId("add-host").click();
  await page.getByLabel("Id").fill("edit-e2e2");
  await page.getByLabel("Address").fill(vm.host);
  await page.getByLabel("SSH port").fill(String(vm.port));
  await page.getByLabel("User").fill(vm.user);
  await page.getByLabel("Workspace root").fill(vm.root);
  await page.getByRole("button", { name: "Connect and show its key" }).click();
  const confirm = page.getByTestId("confirm-key-dialog");
  await confirm.getByLabel("Fingerprint read on the VM").fill(vm.key);
  await confirm.getByRole("button", { name: "Pin this key" }).click();
  await expect(confirm).toBeHidden();
  await healthy(page, "edit-e2e2");

  const row = page.getByTestId("host-edit-e2e2");
  await page.getByTestId("edit-edit-e2e2").click();
  const dialog = page.getByTestId("edit-host-dialog");
  await expect(dialog.getByLabel("SSH port")).toHaveValue(String(vm.port));
  await dialog.getByLabel("Capacity").fill("0");
  await dialog.getByRole("button", { name: "Save" }).click();
  await expect(dialog.getByRole("alert")).toContainText("capacity");
  await dialog.getByLabel("Labels").fill("edited, spare");
  await dialog.getByLabel("Capacity").fill("4");
  await dialog.getByRole("button", { name: "Save" }).click();
  await expect(dialog).toBeHidden();
  await expect(row).toContainText("labels: edited, spare");
  await expect(row).toContainText("0 / 4");

  // Another address is another machine as far as trust goes: the key it offers waits for confirmation.
  // It answers slowly (a relay at 600 ms round trips, as a far VM): while its key is probed, the row
  // says the host is being changed, from the stream; the mark goes when the edit is written.
  const relay = await startRelay({ upstreamHost: other.host, upstreamPort: other.port, rttMs: 600 });
  try {
    await page.getByTestId("edit-edit-e2e2").click();
    await dialog.getByLabel("Address").fill(relay.host);
    await dialog.getByLabel("SSH port").fill(String(relay.port));
    await dialog.getByRole("button", { name: "Save" }).click();
    await expect(page.getByTestId("editing-edit-e2e2")).toHaveText("being changed");
    await expect(row).toContainText("An admin is changing where it is reached");
    await expect(confirm.getByTestId("offered-fingerprint")).toHaveText(other.key);
    await expect(page.getByTestId("editing-edit-e2e2")).toHaveCount(0);
    // Near again for what follows: the server's handshake limit here is 3 s.
    relay.setRtt(0);
    await expect(row).toContainText("unconfirmed");
    await confirm.getByLabel("Fingerprint read on the VM").fill(other.key);
    await confirm.getByRole("button", { name: "Pin this key" }).click();
    await expect(confirm).toBeHidden();
    await healthy(page, "edit-e2e2");
    await expect(row).toContainText(`@${relay.host}:${relay.port}`);
    await expect(row).toContainText(other.key);
    page.once("dialog", (d) => void d.accept());
    await page.getByTestId("remove-edit-e2e2").click();
    await expect(row).toBeHidden();
  } finally {
    await relay.close();
  }
});

test("an image build's log streams live", async ({ page }) => {
  // Only the team stream may bring it: the log's JSON route (the page's fallback while the stream is down) is blocked.
  await page.route("**/api/v1/builds/*/log*", (route) => route.abort());
  await page.goto("/images");
  await page.getByTestId("build-e2e-demo").click();
  await page.waitForURL(/\/images\/builds\/bld_/);
  const log = page.getByTestId("build-log");
  // The first lines arrive while the build still runs (no reload): the stream, not the first render.
  await expect(log).toContainText("demo step 2", { timeout: 30_000 });
  await expect(page.getByTestId("build-state")).toHaveText("running");
  await expect(log).toContainText("demo step 6", { timeout: 30_000 });
  await expect(page.getByTestId("build-state")).toHaveText("succeeded", { timeout: 30_000 });
  await expect(log).toContainText("e2e-demo 1 built");
});
