// The dashboard in a real browser (issue 15): Debian's Chromium driven by Playwright, signed in as the
// bench's person, against the bench's server, on `profile.local` sandboxes (a directory on the server:
// what is timed is the page, not a VM).
//   createShownMs   a create's `ready` (the server's event time) → the overview row shows `ready`
//                   (the browser's clock at the next frame after the DOM changed; same machine, same clock)
//   destroyShownMs  the click on the destroy dialog's confirm button → the sandbox page's status badge
//                   shows `destroyed` (both in the page: performance.now() at the click, at the next frame)
//   idle tabs       database statements per second with N overview tabs open and idle, minus the same
//                   with none (tests/support/stream-metrics.ts, as e2e/live.spec.ts measures it): the
//                   tabs share one team stream, so this is the stream hub's cost, whatever N is.
import { performance } from "node:perf_hooks";

import { chromium, type BrowserContext, type Page } from "@playwright/test";

import { CHROMIUM_ARGS, CHROMIUM_PATH } from "../tests/support/chromium";
import { idleRates, waitForOpenStreams, type ReadMetrics } from "../tests/support/stream-metrics";
import { loadAverage } from "./lib/machine";
import { round, summarize, type Summary } from "./lib/stats";

const PROFILE = "profile.local";

export interface DashboardBench {
  runs: number;
  createShownMs: Summary;
  destroyShownMs: Summary;
  idleTabs: {
    tabs: number;
    /** Statements per second with the tabs open minus with none (whole process). */
    queriesPerSec: number;
    withTabsPerSec: number;
    withoutTabsPerSec: number;
    hubReadsPerSec: number;
    windowMs: number;
    windows: number;
  };
  failures: string[];
  method: string;
  loadAverage: { start: number[]; end: number[] };
}

interface Opts {
  url: string;
  /** The bench person's session cookie ("name=value; …"). */
  cookie: string;
  /** Reads /api/metrics. */
  readMetrics: ReadMetrics;
  runs: number;
  tabs: number;
  windowMs: number;
  windows: number;
  /** A first create/destroy, not counted, so the first measured one does not pay for loading the pages. */
  warmUp: boolean;
  log: (line: string) => void;
}

async function live(page: Page): Promise<void> {
  await page.getByTestId("stream-status").and(page.locator('[data-live="1"]')).waitFor({ timeout: 30_000 });
}

// The in-page recorders are plain JavaScript strings: tsx would wrap named functions in a helper
// (`__name`) that does not exist in the page.

/** Records, in the page, when each overview row first shows `ready` (wall clock, at the next frame). */
const WATCH_READY_ROWS = `(() => {
  const ready = (window.__benchReady = {});
  const rows = '[data-testid^="row-"][data-status="ready"]';
  const seen = new Set(Array.from(document.querySelectorAll(rows), (el) => el.getAttribute("data-testid")));
  new MutationObserver(() => {
    for (const el of document.querySelectorAll(rows)) {
      const key = el.getAttribute("data-testid");
      if (seen.has(key)) continue;
      seen.add(key);
      requestAnimationFrame(() => (ready[key.slice(4)] = Date.now()));
    }
  }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-status"] });
})()`;

/** Records, in the page, the confirm click and when the status badge first shows `destroyed`. */
const WATCH_DESTROY = `(() => {
  const t = (window.__benchDestroy = {});
  document.addEventListener("click", (e) => {
    if (e.target && e.target.closest && e.target.closest('[data-testid="confirm-destroy"]') && t.click === undefined) t.click = performance.now();
  }, { capture: true });
  const obs = new MutationObserver(() => {
    const badge = document.querySelector('[data-testid="status-badge"]');
    if (!badge || badge.getAttribute("data-status") !== "destroyed" || t.click === undefined) return;
    obs.disconnect();
    requestAnimationFrame(() => (t.shown = performance.now()));
  });
  obs.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-status"] });
})()`;

async function api(o: Opts, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${o.url}/api/v1${path}`, {
    method,
    headers: { cookie: o.cookie, origin: new URL(o.url).origin, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

async function oneRun(o: Opts, page: Page): Promise<{ createShownMs: number; destroyShownMs: number }> {
  await page.goto("/");
  await live(page);
  await page.evaluate(WATCH_READY_ROWS);
  const id = (await api(o, "POST", "/sandboxes", { profile: PROFILE, input: {} })).id as string;
  // Inline arrows (no names for tsx to wrap); strings would be eval'd, which the page's CSP forbids.
  const shown = await page.waitForFunction((rid) => (window as unknown as { __benchReady: Record<string, number> }).__benchReady[rid], id, {
    timeout: 60_000,
  });
  const shownAt = Number(await shown.jsonValue());
  const { events } = (await api(o, "GET", `/sandboxes/${id}/events?format=json`)) as unknown as {
    events: { type: string; status?: string; at: string }[];
  };
  const ready = events.find((e) => e.type === "state" && e.status === "ready");
  if (!ready) throw new Error(`${id}: no ready event`);
  const createShownMs = shownAt - Date.parse(ready.at);

  await page.goto(`/sandboxes/${id}`);
  await live(page);
  await page.getByTestId("status-badge").first().and(page.locator('[data-status="ready"]')).waitFor();
  await page.evaluate(WATCH_DESTROY);
  await page
    .getByRole("button", { name: /^Destroy$/ })
    .first()
    .click();
  await page.getByTestId("confirm-destroy").click();
  const done = await page.waitForFunction(
    () => {
      const t = (window as unknown as { __benchDestroy: { click: number; shown?: number } }).__benchDestroy;
      return t.shown !== undefined && t;
    },
    null,
    { timeout: 60_000 },
  );
  const t = (await done.jsonValue()) as { click: number; shown: number };
  return { createShownMs, destroyShownMs: t.shown - t.click };
}

async function idleTabs(o: Opts, context: BrowserContext): Promise<DashboardBench["idleTabs"]> {
  const pages = await Promise.all(Array.from({ length: o.tabs }, () => context.newPage()));
  await Promise.all(pages.map((p) => p.goto("/")));
  await Promise.all(pages.map((p) => live(p)));
  // One stream for all the tabs (the shared worker): the hub's cost is what is measured.
  await waitForOpenStreams(o.readMetrics, 1);
  const withTabs = await idleRates(o.readMetrics, { windowMs: o.windowMs, windows: o.windows });
  await Promise.all(pages.map((p) => p.close()));
  await waitForOpenStreams(o.readMetrics, 0);
  const without = await idleRates(o.readMetrics, { windowMs: o.windowMs, windows: o.windows });
  return {
    tabs: o.tabs,
    queriesPerSec: round(withTabs.statements - without.statements, 2),
    withTabsPerSec: round(withTabs.statements, 2),
    withoutTabsPerSec: round(without.statements, 2),
    hubReadsPerSec: round(withTabs.hubReads, 2),
    windowMs: o.windowMs,
    windows: o.windows,
  };
}

export async function measureDashboard(o: Opts): Promise<DashboardBench> {
  const start = loadAverage();
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
  try {
    const context = await browser.newContext({ baseURL: o.url });
    await context.addCookies(
      o.cookie.split("; ").map((c) => {
        const i = c.indexOf("=");
        return { name: c.slice(0, i), value: c.slice(i + 1), url: o.url };
      }),
    );
    const page = await context.newPage();
    const create: number[] = [];
    const destroy: number[] = [];
    const failures: string[] = [];
    if (o.warmUp) await oneRun(o, page);
    for (let i = 0; i < o.runs; i++) {
      const t0 = performance.now();
      try {
        const r = await oneRun(o, page);
        create.push(r.createShownMs);
        destroy.push(r.destroyShownMs);
        o.log(
          `dashboard run ${i + 1}/${o.runs}: ready → shown ${round(r.createShownMs)} ms, destroy click → shown ${round(r.destroyShownMs)} ms`,
        );
      } catch (e) {
        failures.push(`dashboard run ${i + 1}: ${(e as Error).message.split("\n")[0]} (after ${round(performance.now() - t0)} ms)`);
      }
    }
    await page.close();
    const idleStarted = performance.now();
    const idle = await idleTabs(o, context);
    o.log(`idle tabs part took ${round(performance.now() - idleStarted)} ms`);
    o.log(
      `idle tabs: ${idle.tabs} overview tabs cost ${idle.queriesPerSec} statements/s (with ${idle.withTabsPerSec}, without ${idle.withoutTabsPerSec}; hub reads ${idle.hubReadsPerSec}/s)`,
    );
    await context.close();
    return {
      runs: o.runs,
      createShownMs: summarize(create),
      destroyShownMs: summarize(destroy),
      idleTabs: idle,
      failures,
      method:
        "Chromium (Debian's, via Playwright), signed in, profile.local sandboxes. Create: POST, then the overview row's data-status " +
        "becomes ready; shown = Date.now() at the next animation frame after the DOM change, minus the server's `ready` event time. " +
        "Destroy: on the sandbox page, Destroy → dialog → confirm; performance.now() at the confirm click to the next frame after the " +
        "status badge reads destroyed. Idle tabs: statements/s (sandboxer_db_statements_total on /api/metrics) with the tabs open " +
        "and live minus with none, each the lowest of its windows.",
      loadAverage: { start, end: loadAverage() },
    };
  } finally {
    await browser.close();
  }
}
