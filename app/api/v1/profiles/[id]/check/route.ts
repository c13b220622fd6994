// POST /api/v1/profiles/{id}/check — runs the profile's extension check() against each host it could
// use (`sandboxer doctor`). Bounded by a time limit and by the client going away; creates nothing.
import { profilePathParams } from "@/lib/api/schemas";
import { defineRoute } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";
import { checkProfile } from "@/lib/manager/profile-check";

export const dynamic = "force-dynamic";

export const POST = defineRoute<{ id: string }>({ name: "profiles.check" }, async (req, _actor, ctx) => {
  const { id } = profilePathParams.parse(await ctx.params);
  const result = await checkProfile(manager(), id, { signal: req.signal });
  return Response.json(result, { headers: { "cache-control": "no-store" } });
});
