// GET /api/metrics — Prometheus text format. Bearer SANDBOXER_METRICS_TOKEN, or an admin's session/token.
// This process's series, plus the fleet gauges when this instance is the designated exporter (lib/metrics.ts).
import crypto from "node:crypto";

import { OPERATOR_ROUTES } from "@/lib/api/openapi";
import { systemActor } from "@/lib/auth/actor";
import { defineRoute } from "@/lib/auth/guards";
import { env } from "@/lib/env";
import { manager } from "@/lib/manager/instance";
import { scrape } from "@/lib/metrics";

export const dynamic = "force-dynamic";

/** The scraper presenting SANDBOXER_METRICS_TOKEN (compared in constant time), or null. */
function metricsTokenActor(req: Request) {
  const expected = env().SANDBOXER_METRICS_TOKEN;
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.get("authorization") ?? "");
  if (!expected || !m) return null;
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(expected);
  return a.length === b.length && crypto.timingSafeEqual(a, b) ? systemActor("metrics token") : null;
}

export const GET = defineRoute(
  OPERATOR_ROUTES.metrics,
  async () => {
    const { text, contentType } = await scrape(manager);
    return new Response(text, { headers: { "content-type": contentType, "cache-control": "no-store" } });
  },
  { authenticate: metricsTokenActor },
);
