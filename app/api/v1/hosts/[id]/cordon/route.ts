// POST /api/v1/hosts/{id}/cordon — { reason? }: no new sandboxes there (admins)
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { cordonHost } from "@/lib/manager/host-lifecycle";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const POST = defineRoute(API_ROUTES.cordonHost, ({ params, body, actor }) => cordonHost(manager(), actor, params.id, body.reason));
