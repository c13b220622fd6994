// POST /api/v1/hosts/{id}/confirm-key — { fingerprint }: pin the key the host offered (admins)
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { NotFoundError } from "@/lib/errors";
import { confirmHostKey } from "@/lib/manager/host-lifecycle";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const POST = defineRoute(API_ROUTES.confirmHostKey, async ({ params, body, actor }) => {
  await confirmHostKey(manager(), actor, params.id, body.fingerprint);
  const host = (await manager().listHosts()).find((h) => h.id === params.id);
  if (!host) throw new NotFoundError("Host", params.id);
  return host;
});
