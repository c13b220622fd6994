// GET /api/v1/hosts — the build hosts with health, free space and sandboxes against capacity
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const GET = defineRoute(API_ROUTES.listHosts, () => manager().listHosts());
