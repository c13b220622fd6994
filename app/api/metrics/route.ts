// GET /api/metrics — Prometheus text format. Bearer SANDBOXER_METRICS_TOKEN, or an admin's session/token.
import crypto from "node:crypto";

import { errorResponse } from "@/lib/auth/guards";
import { actorFromHeaders } from "@/lib/auth/session";
import { env } from "@/lib/env";
import { ForbiddenError, UnauthenticatedError } from "@/lib/errors";
import { manager } from "@/lib/manager/instance";
import { metrics } from "@/lib/metrics";

export const dynamic = "force-dynamic";

function matchesMetricsToken(header: string | null): boolean {
  const expected = env().SANDBOXER_METRICS_TOKEN;
  const m = header && /^Bearer\s+(\S+)$/i.exec(header);
  if (!expected || !m) return false;
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(expected);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

export async function GET(req: Request): Promise<Response> {
  try {
    if (!matchesMetricsToken(req.headers.get("authorization"))) {
      const actor = await actorFromHeaders(req.headers);
      if (!actor) throw new UnauthenticatedError("Present SANDBOXER_METRICS_TOKEN or an admin's credentials");
      if (actor.kind === "system" || actor.role !== "admin") throw new ForbiddenError("Metrics need the admin role or the metrics token");
    }
    const { registry } = metrics(manager);
    return new Response(await registry.metrics(), { headers: { "content-type": registry.contentType, "cache-control": "no-store" } });
  } catch (e) {
    return errorResponse(e, "metrics");
  }
}
