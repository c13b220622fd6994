// The overview at scale: a separate server whose database holds 10,000 sandboxes (500 active) from
// 25 people — it must load, paginate and filter, and answer quickly (figures logged, not asserted).
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { percentile } from "../bench/lib/stats";
import { REPO_ROOT, signUp, startAppServer, type AppServer } from "../tests/support/app-server";

const SHOTS =
  process.env.UPDATE_SCREENSHOTS === "1"
    ? path.join(REPO_ROOT, "docs", "screenshots")
    : path.join(REPO_ROOT, "test-results", "screenshots");
import { expect, test } from "./fixtures";
import { OverviewPage } from "./pages/overview-page";

test.describe("overview with 10,000 sandboxes", () => {
  test.use({ storageState: { cookies: [], origins: [] } });
  let app: AppServer;
  let root: string;
  let cookie: string;

  test.beforeAll(async () => {
    test.setTimeout(120_000);
    root = fs.mkdtempSync(path.join(os.tmpdir(), "sandboxer-scale-"));
    const dataDir = path.join(root, "data");
    const env = { ...process.env, DATABASE_URL: `file:${path.join(dataDir, "scale.db")}`, SANDBOXER_DATA_DIR: dataDir };
    const run = (script: string, ...args: string[]) =>
      execFileSync(process.execPath, ["--conditions=react-server", "--import", "tsx", script, ...args], {
        cwd: REPO_ROOT,
        env,
        stdio: "pipe",
      });
    run("scripts/db-migrate.ts", "deploy");
    app = await startAppServer({ env: { DATABASE_URL: env.DATABASE_URL, SANDBOXER_DATA_DIR: dataDir, SANDBOXER_WORKER: "off" } });
    cookie = await signUp(app.url, "lead@scale.test");
    run("scripts/seed.ts", "--sandboxes", "10000", "--active", "500", "--owner-email", "lead@scale.test");
  });

  test.afterAll(async () => {
    await app?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  test.use({ viewport: { width: 1360, height: 860 } });

  test("loads, paginates and filters; server response time measured over 50 requests", async ({ page, context }) => {
    const [name, value] = cookie
      .split("; ")
      .map((c) => c.split("="))
      .find(([n]) => n!.includes("session_token"))!;
    await context.addCookies([{ name: name!, value: value!, domain: "127.0.0.1", path: "/" }]);
    const overview = new OverviewPage(page);
    await page.goto(`${app.url}/`);
    await expect(overview.heading).toBeVisible();
    await expect(page.getByTestId("page-info")).toContainText(/^1–25 of 5\d\d$/);
    fs.mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, "overview.png") });
    const firstPage = await page.locator('[data-testid^="row-"]').evaluateAll((rows) => rows.map((r) => r.getAttribute("data-testid")));
    expect(firstPage).toHaveLength(25);
    await page.getByTestId("next-page").click();
    await expect(page.getByTestId("page-info")).toContainText(/^26–50 of /);
    await expect(page).toHaveURL(/page=2/);
    const secondPage = await page.locator('[data-testid^="row-"]').evaluateAll((rows) => rows.map((r) => r.getAttribute("data-testid")));
    expect(secondPage.filter((id) => firstPage.includes(id))).toEqual([]);
    await page.getByTestId("count-failed").click();
    await expect(page).toHaveURL(/status=failed/);
    await expect(page.locator('[data-testid^="row-"][data-status="failed"]').first()).toBeVisible();
    expect(await page.locator('[data-testid^="row-"]:not([data-status="failed"])').count()).toBe(0);

    const timings: Record<string, number[]> = { "/": [], "/api/v1/sandboxes": [] };
    for (const url of Object.keys(timings)) {
      for (let i = 0; i < 50; i++) {
        const t0 = performance.now();
        const res = await fetch(`${app.url}${url}`, { headers: { cookie } });
        await res.arrayBuffer();
        expect(res.status).toBe(200);
        timings[url]!.push(performance.now() - t0);
      }
    }
    for (const [url, ms] of Object.entries(timings)) {
      console.log(
        `[measure] ${url} at 10,000 sandboxes: median ${percentile(ms, 50).toFixed(1)} ms, p95 ${percentile(ms, 95).toFixed(1)} ms (50 requests)`,
      );
    }
  });
});
