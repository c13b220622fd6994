// POST /api/v1/hosts/{id}/uncordon — the host takes new sandboxes again (admins)
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { uncordonHost } from "@/lib/manager/host-lifecycle";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const POST = defineRoute(API_ROUTES.uncordonHost, ({ params, actor }) => uncordonHost(manager(), actor, params.id));
