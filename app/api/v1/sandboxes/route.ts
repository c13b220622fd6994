// GET /api/v1/sandboxes — the team's sandboxes (filters and pagination like the overview)
// POST /api/v1/sandboxes — create one from a profile; returns at once with status "queued"
import { toSandboxFilter } from "@/lib/api/filters";
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const GET = defineRoute(API_ROUTES.listSandboxes, ({ query, actor }) =>
  manager().listSandboxes(toSandboxFilter(query, actor), query.page, query.pageSize),
);

export const POST = defineRoute(API_ROUTES.createSandbox, async ({ body, actor }) => {
  const sandbox = await manager().createSandbox(body.profile, actor, body.input);
  return Response.json(sandbox, { status: 202, headers: { location: `/api/v1/sandboxes/${sandbox.id}` } });
});
