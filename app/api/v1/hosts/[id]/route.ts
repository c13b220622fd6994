// PATCH /api/v1/hosts/{id} — edit a dashboard-added host (admins; a new address or port needs its key confirmed again)
// DELETE /api/v1/hosts/{id} — remove a dashboard-added host (admins; refused while sandboxes live there)
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { editAdminHost, removeHost } from "@/lib/manager/host-lifecycle";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const PATCH = defineRoute(API_ROUTES.editHost, ({ params, body, actor, req }) =>
  editAdminHost(manager(), actor, params.id, body, req.signal),
);

export const DELETE = defineRoute(API_ROUTES.removeHost, async ({ params, actor }) => {
  await removeHost(manager(), actor, params.id);
  return { hostId: params.id, removed: true as const };
});
