// GET /api/v1/sandboxes/{id}/connection — host, port, user, workspace path and a known_hosts line for
// the pinned host key, so the CLI's own ssh/rsync trust exactly what the server verified. No private
// key ever leaves the server: the person connects with their own identity.
import { sandboxPathParams } from "@/lib/api/schemas";
import { defineRoute } from "@/lib/auth/guards";
import { sandboxConnection } from "@/lib/manager/connection";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const GET = defineRoute<{ id: string }>({ name: "sandboxes.connection" }, async (_req, _actor, ctx) => {
  const { id } = sandboxPathParams.parse(await ctx.params);
  // NOT_CONNECTABLE and HOST_KEY_UNKNOWN become 409 through lib/http-errors.ts.
  return Response.json(await sandboxConnection(manager(), id), { headers: { "cache-control": "no-store" } });
});
