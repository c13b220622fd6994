// POST /api/v1/sandboxes/{id}/extend — { by: "2h" }: moves the expiry later (owner or admin), up to
// the profile's maximum (409 AT_MAX_TTL beyond it, 409 NOT_EXTENDABLE when it is not live).
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { parseDuration } from "@/lib/duration";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const POST = defineRoute(API_ROUTES.extendSandbox, ({ params, body, actor }) =>
  manager().extendSandbox(params.id, actor, parseDuration(body.by)),
);
