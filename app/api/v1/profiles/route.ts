// GET /api/v1/profiles — every profile, usable or not (invalid ones carry their errors)
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const GET = defineRoute(API_ROUTES.listProfiles, async () => manager().listProfiles());
