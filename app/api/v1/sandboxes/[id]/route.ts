// GET /api/v1/sandboxes/{id} — one sandbox (?detail=1 adds the timeline and queue position)
// DELETE /api/v1/sandboxes/{id} — destroy it (owner or admin); returns at once with "destroying"
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const GET = defineRoute(API_ROUTES.getSandbox, ({ params, query, actor }) =>
  query.detail ? manager().getSandboxDetail(params.id, actor) : manager().getSandbox(params.id),
);

export const DELETE = defineRoute(API_ROUTES.destroySandbox, ({ params, actor }) => manager().destroySandbox(params.id, actor));
