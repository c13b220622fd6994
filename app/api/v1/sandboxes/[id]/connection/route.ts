// GET /api/v1/sandboxes/{id}/connection — host, port, user, workspace path and a known_hosts line for
// the pinned host key, so the CLI's own ssh/rsync trust exactly what the server verified. No private
// key ever leaves the server: the person connects with their own identity.
import { sandboxPathParams } from "@/lib/api/schemas";
import { defineRoute } from "@/lib/auth/guards";
import { hasCode } from "@/lib/errors";
import { errorBody } from "@/lib/http-errors";
import { CONNECTION_CONFLICT_CODES, sandboxConnection } from "@/lib/manager/connection";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const GET = defineRoute<{ id: string }>({ name: "sandboxes.connection" }, async (_req, _actor, ctx) => {
  const { id } = sandboxPathParams.parse(await ctx.params);
  try {
    return Response.json(await sandboxConnection(manager(), id), { headers: { "cache-control": "no-store" } });
  } catch (e) {
    // These codes are not (yet) in lib/http-errors.ts's shared table, which would answer them with 500.
    if (CONNECTION_CONFLICT_CODES.some((code) => hasCode(e, code))) {
      return Response.json(errorBody(e), { status: 409, headers: { "cache-control": "no-store" } });
    }
    throw e;
  }
});
