// GET /api/v1/hosts — the build hosts with health, free space, load, image and cordon state
// POST /api/v1/hosts — add a host (admins): returns the key it offered, to be confirmed
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { addHost } from "@/lib/manager/host-lifecycle";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const GET = defineRoute(API_ROUTES.listHosts, () => manager().listHosts());

export const POST = defineRoute(API_ROUTES.addHost, ({ body, actor, req }) => addHost(manager(), actor, body, req.signal));
