// GET /api/v1/ssh-gateway — where the SSH gateway is and its host key fingerprint (404 when off)
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { NotFoundError } from "@/lib/errors";
import { gatewayInfo } from "@/lib/gateway/instance";

export const dynamic = "force-dynamic";

export const GET = defineRoute(API_ROUTES.getSshGateway, async () => {
  const info = gatewayInfo();
  if (!info) throw new NotFoundError("SSH gateway", "SANDBOXER_SSH_GATEWAY=off");
  return info;
});
