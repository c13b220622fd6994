// The dashboard is pushed, not polled: with every polling request of the page blocked, a create and a
// destroy still reach the overview and the sandbox page (status, timeline and the destroy's log lines)
// through the team event stream; twenty tabs share one stream; idle tabs cost the database nothing
// beyond the stream's one reader; what changed before the stream opened is replayed.
import type { APIRequestContext, Page } from "@playwright/test";

import { idleRates, readMetric } from "../tests/support/stream-metrics";
import { expect, test } from "./fixtures";
import { SandboxPage } from "./pages/sandbox-page";

const metrics = (request: APIRequestContext) => async () => (await request.get("/api/metrics")).text();
const metric = (request: APIRequestContext, name: string) => readMetric(metrics(request), name);

// A browser context's own request client sends no Origin; the server wants one on cookie writes.
const origin = () => ({ origin: new URL(process.env.E2E_BASE_URL!).origin });

async function createLocal(request: APIRequestContext): Promise<string> {
  const res = await request.post("/api/v1/sandboxes", { data: { profile: "profile.local" }, headers: origin() });
  expect(res.status(), await res.text()).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

/** Fails every request a page makes to the polling endpoints: only the stream can change it. */
async function blockPolling(page: Page): Promise<string[]> {
  const blocked: string[] = [];
  await page.route(
    (url) => url.pathname.startsWith("/api/v1/sandboxes"),
    (route) => (blocked.push(route.request().url()), route.abort()),
  );
  return blocked;
}

async function live(page: Page): Promise<void> {
  await expect(page.getByTestId("stream-status")).toHaveAttribute("data-live", "1");
}

test.describe("live dashboard", () => {
  test("create and destroy reach the overview and the sandbox page with polling blocked, destroy lines included", async ({
    page,
    context,
    overview,
  }) => {
    const blocked = await blockPolling(page);
    await overview.goto();
    await live(page);
    const id = await createLocal(context.request);
    await expect(overview.row(id)).toBeVisible();
    await expect(overview.row(id)).toHaveAttribute("data-status", "ready");

    // A second tab on the sandbox page, also without polling.
    const detail = await context.newPage();
    await blockPolling(detail);
    await detail.goto(`/sandboxes/${id}`);
    await live(detail);
    const sandbox = new SandboxPage(detail);
    await sandbox.expectStatus("ready");
    await sandbox.destroy();
    await sandbox.expectStatus("destroyed");
    // The destroy's own lines, which a fast local destroy used to hide until a reload.
    await expect(sandbox.log).toContainText("Removing");
    await expect(sandbox.log).toContainText("Destroyed");
    await expect(detail.getByTestId("timeline")).toContainText("destroyed");
    // The overview tab followed too.
    await expect(overview.row(id)).toHaveAttribute("data-status", "destroyed");
    expect(blocked.filter((u) => !u.includes("/events"))).toEqual([]);
    await detail.close();
  });

  for (const shared of [true, false]) {
    test(`what changes between a page's render and the start of its stream still reaches the page (${shared ? "shared worker" : "the tab's own stream"})`, async ({
      page,
      context,
      overview,
    }) => {
      // The stream starts only after a create has finished: the page was rendered before the create, and
      // polling is blocked, so only a stream that replays from the page's render can bring the new row.
      // Held: the shared worker's script (its requests are out of the page's reach), or — without
      // SharedWorker — the tab's own stream.
      if (!shared) await page.addInitScript(() => Reflect.deleteProperty(window, "SharedWorker"));
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      await page.route(
        (url) => url.pathname === (shared ? "/stream-worker.js" : "/api/v1/events"),
        async (route) => {
          await released;
          await route.continue();
        },
      );
      const blocked = await blockPolling(page);
      await overview.goto();
      const id = await createLocal(context.request);
      await expect
        .poll(async () => ((await (await context.request.get(`/api/v1/sandboxes/${id}`)).json()) as { status: string }).status)
        .toBe("ready");
      await expect(page.getByTestId("stream-status")).toHaveAttribute("data-live", "0");
      release();
      await live(page);
      await expect(overview.row(id)).toHaveAttribute("data-status", "ready");
      expect(blocked.filter((u) => !u.includes("/events"))).toEqual([]);
      await context.request.delete(`/api/v1/sandboxes/${id}`, { headers: origin(), maxRetries: 2 });
    });
  }

  test("twenty tabs stay live on one shared stream, and idle they cost no database reads beyond it", async ({ context }) => {
    test.setTimeout(120_000);
    const pages: Page[] = [];
    for (let i = 0; i < 20; i++) {
      const p = await context.newPage();
      await p.goto("/");
      pages.push(p);
    }
    for (const p of pages) await live(p);
    await expect.poll(() => metric(context.request, "sandboxer_event_streams_open")).toBe(1);

    const id = await createLocal(context.request);
    for (const p of pages) await expect(p.getByTestId(`row-${id}`)).toHaveAttribute("data-status", "ready");

    // Idle: the hub's reads for all twenty tabs, and the process's statements per second with the tabs
    // open vs. with none (the worker's own loops run in both), measured as the bench measures
    // idleTabsQueriesPerSec (tests/support/stream-metrics.ts: both counters from the same reads).
    const { hubReads, statements: withTabs } = await idleRates(metrics(context.request));
    expect(hubReads).toBeLessThanOrEqual(1);
    for (const p of pages) await p.close();
    await expect.poll(() => metric(context.request, "sandboxer_event_streams_open")).toBe(0);
    const { statements: without } = await idleRates(metrics(context.request));
    test.info().annotations.push({ type: "idleTabsQueriesPerSec", description: `${(withTabs - without).toFixed(2)} (hub ${hubReads})` });
    expect(withTabs - without).toBeLessThanOrEqual(3);
    await context.request.delete(`/api/v1/sandboxes/${id}`, { headers: origin(), maxRetries: 2 });
  });
});

test("the hosts page follows a cordon and an uncordon from the stream, with the hosts list never fetched", async ({ page, context }) => {
  // Every request for the list (its polling, or a refetch) fails: the `host.changed` notice carries the
  // host itself. The cordoned host's drain report is fetched when the stream says the cordon changed.
  const blocked: string[] = [];
  await page.route(
    (url) => url.pathname === "/api/v1/hosts",
    (route) => (blocked.push(route.request().url()), route.abort()),
  );
  await page.goto("/hosts");
  await live(page);
  await expect(page.getByTestId("host-vm-e2e2")).toBeVisible();
  await expect(page.getByTestId("cordoned-vm-e2e2")).toHaveCount(0);
  try {
    const res = await context.request.post("/api/v1/hosts/vm-e2e2/cordon", { data: { reason: "live e2e" }, headers: origin() });
    expect(res.status(), await res.text()).toBe(200);
    await expect(page.getByTestId("cordoned-vm-e2e2")).toHaveText("cordoned");
    await expect(page.getByTestId("host-vm-e2e2")).toContainText("live e2e");
    await expect(page.getByTestId("drain-report-vm-e2e2")).toBeVisible();
  } finally {
    const res = await context.request.post("/api/v1/hosts/vm-e2e2/uncordon", { data: {}, headers: origin() });
    expect(res.status(), await res.text()).toBe(200);
  }
  await expect(page.getByTestId("cordoned-vm-e2e2")).toHaveCount(0);
  await expect(page.getByTestId("drain-report-vm-e2e2")).toHaveCount(0);
  expect(blocked).toEqual([]);
});
