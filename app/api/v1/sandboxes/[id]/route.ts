// GET /api/v1/sandboxes/{id} — one sandbox (?detail=1 adds the timeline and queue position)
// DELETE /api/v1/sandboxes/{id} — destroy it (owner or admin); returns at once with "destroying"
import { getSandboxQuery, sandboxPathParams } from "@/lib/api/schemas";
import { defineRoute } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const GET = defineRoute<{ id: string }>({ name: "sandboxes.get" }, async (req, actor, ctx) => {
  const { id } = sandboxPathParams.parse(await ctx.params);
  const q = getSandboxQuery.parse(Object.fromEntries(new URL(req.url).searchParams));
  const m = manager();
  if (q.detail) return Response.json(await m.getSandboxDetail(id, actor), { headers: { "cache-control": "no-store" } });
  return Response.json(await m.getSandbox(id), { headers: { "cache-control": "no-store" } });
});

export const DELETE = defineRoute<{ id: string }>({ name: "sandboxes.destroy" }, async (_req, actor, ctx) => {
  const { id } = sandboxPathParams.parse(await ctx.params);
  const sandbox = await manager().destroySandbox(id, actor);
  return Response.json(sandbox, { status: 202 });
});
