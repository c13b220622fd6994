// GET /api/v1/me — who the credentials belong to (`sandboxer login` verifies a token with it)
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";
import { whoAmI } from "@/lib/manager/whoami";

export const dynamic = "force-dynamic";

export const GET = defineRoute(API_ROUTES.whoAmI, ({ actor }) => whoAmI(manager(), actor));
