// Debian's Chromium and the flags every browser run here uses (playwright.config.ts, the bench's
// dashboard part). Playwright's own browsers are never downloaded (see docs/decisions).
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-domain-reliability",
  "--disable-quic",
];
