// POST /api/v1/images/{id}/revoke — { version, reason? }: revoke a version and drain its hosts (admins)
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { revokeVersion } from "@/lib/manager/images";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const POST = defineRoute(API_ROUTES.revokeImageVersion, async ({ params, body, actor }) => ({
  image: params.id,
  version: body.version,
  drained: await revokeVersion(manager(), actor, params.id, body.version, body.reason),
}));
