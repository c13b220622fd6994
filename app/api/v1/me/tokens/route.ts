// GET /api/v1/me/tokens — the caller's API tokens; POST — create one (a session or a full-scope token)
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";
import { apiTokens, createApiToken } from "@/lib/manager/people";

export const dynamic = "force-dynamic";

export const GET = defineRoute(API_ROUTES.listApiTokens, async ({ actor }) => ({ tokens: await apiTokens(manager(), actor) }));

export const POST = defineRoute(API_ROUTES.createApiToken, ({ actor, body }) => createApiToken(manager(), actor, body));
