// POST /api/v1/sandboxes/{id}/extend — { by: "2h" }: moves the expiry later (owner or admin), up to
// the profile's maximum (409 AT_MAX_TTL beyond it, 409 NOT_EXTENDABLE when it is not live).
import { extendSandboxBody, sandboxPathParams } from "@/lib/api/schemas";
import { defineRoute } from "@/lib/auth/guards";
import { parseDuration } from "@/lib/duration";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const POST = defineRoute<{ id: string }>({ name: "sandboxes.extend" }, async (req, actor, ctx) => {
  const { id } = sandboxPathParams.parse(await ctx.params);
  const body = extendSandboxBody.parse(await req.json().catch(() => ({})));
  const sandbox = await manager().extendSandbox(id, actor, parseDuration(body.by));
  return Response.json(sandbox, { headers: { "cache-control": "no-store" } });
});
