// GET /api/v1/sandboxes — the team's sandboxes (filters and pagination like the overview)
// POST /api/v1/sandboxes — create one from a profile; returns at once with status "queued"
import { toSandboxFilter } from "@/lib/api/filters";
import { createSandboxBody, listSandboxesQuery } from "@/lib/api/schemas";
import { defineRoute } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const GET = defineRoute({ name: "sandboxes.list" }, async (req, actor) => {
  const q = listSandboxesQuery.parse(Object.fromEntries(new URL(req.url).searchParams));
  const list = await manager().listSandboxes(toSandboxFilter(q, actor), q.page, q.pageSize);
  return Response.json(list, { headers: { "cache-control": "no-store" } });
});

export const POST = defineRoute({ name: "sandboxes.create" }, async (req, actor) => {
  const body = createSandboxBody.parse(await req.json().catch(() => ({})));
  const sandbox = await manager().createSandbox(body.profile, actor, body.input);
  return Response.json(sandbox, { status: 202, headers: { location: `/api/v1/sandboxes/${sandbox.id}` } });
});
