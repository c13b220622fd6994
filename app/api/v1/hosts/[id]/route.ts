// DELETE /api/v1/hosts/{id} — remove a dashboard-added host (admins; refused while sandboxes live there)
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { removeHost } from "@/lib/manager/host-lifecycle";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const DELETE = defineRoute(API_ROUTES.removeHost, async ({ params, actor }) => {
  await removeHost(manager(), actor, params.id);
  return { hostId: params.id, removed: true as const };
});
