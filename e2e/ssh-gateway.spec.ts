// The SSH gateway from the dashboard: register a key on the SSH keys page (the name menu), open a
// ready sandbox, copy its gateway command and run it with the real OpenSSH client — it lands in the
// workspace — then see the session listed on the sandbox page.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect, test } from "./fixtures";

const created: string[] = [];

test.afterAll(async ({ request, baseURL }) => {
  for (const id of created) await request.delete(`${baseURL}/api/v1/sandboxes/${id}`, { maxRetries: 2 }).catch(() => {});
});

test("the sandbox page's ssh command works once a key is registered, and the session is listed", async ({ page, request, baseURL }) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-e2e-ssh-"));
  try {
    execFileSync("ssh-keygen", ["-q", "-N", "", "-t", "ed25519", "-C", "e2e@laptop", "-f", path.join(dir, "id")]);
    const res = await request.post(`${baseURL}/api/v1/sandboxes`, { data: { profile: "profile.e2e-haskell", input: { ref: "main" } } });
    const { id } = (await res.json()) as { id: string };
    created.push(id);

    // The SSH keys page, reached from the name menu.
    await page.goto("/");
    await page.getByTestId("user-menu").click();
    await page.getByRole("menuitem", { name: "SSH keys" }).click();
    await expect(page).toHaveURL(/\/settings\/ssh-keys$/);
    await page.getByTestId("public-key").fill("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 short");
    await page.getByTestId("add-ssh-key").click();
    await expect(page.locator("#public-key-error")).toContainText(/not a valid public key|truncated|RSA/);
    await page.getByTestId("public-key").fill(fs.readFileSync(path.join(dir, "id.pub"), "utf8"));
    await page.getByTestId("add-ssh-key").click();
    const fingerprint = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", path.join(dir, "id.pub")])
      .toString()
      .split(" ")[1]!;
    await expect(page.getByTestId("ssh-keys")).toContainText(fingerprint);
    const gatewayFingerprint = (await page.getByTestId("gateway-fingerprint").textContent()) ?? "";

    await page.goto(`/sandboxes/${id}`);
    await expect(page.getByTestId("gateway-ssh-command")).toBeVisible({ timeout: 30_000 });
    const command = ((await page.getByTestId("gateway-ssh-command").textContent()) ?? "").trim();
    expect(command).toMatch(new RegExp(`^ssh -p \\d+ ${id}@127\\.0\\.0\\.1$`));
    // The gateway's key, from the API; the fingerprint matches what the dashboard shows.
    const gw = (await (await request.get(`${baseURL}/api/v1/ssh-gateway`)).json()) as { knownHostsLine: string; fingerprint: string };
    expect(gatewayFingerprint).toContain(gw.fingerprint);
    fs.writeFileSync(path.join(dir, "known_hosts"), `${gw.knownHostsLine}\n`);
    const [ssh, ...rest] = command.split(" ");
    const out = execFileSync(
      ssh!,
      [
        ...["-F", "none", "-i", path.join(dir, "id"), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"],
        ...["-o", `UserKnownHostsFile=${path.join(dir, "known_hosts")}`, "-o", "StrictHostKeyChecking=yes"],
        ...rest,
        "pwd; cat Main.hs",
      ],
      { timeout: 30_000 },
    ).toString();
    const workspace = ((await page.getByTestId("workspace-path").textContent()) ?? "").trim();
    expect(out).toBe(`${workspace}\n${fs.readFileSync(path.join(workspace, "Main.hs"), "utf8")}`);

    await page.reload();
    await expect(page.getByTestId("ssh-sessions")).toContainText("admin@e2e.test");
    await expect(page.getByTestId("ssh-sessions")).toContainText("exit 0");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
