// DELETE /api/v1/me/tokens/{id} — revoke one of the caller's API tokens (audited)
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";
import { revokeApiToken } from "@/lib/manager/people";

export const dynamic = "force-dynamic";

export const DELETE = defineRoute(API_ROUTES.revokeApiToken, ({ actor, params }) => revokeApiToken(manager(), actor, params.id));
