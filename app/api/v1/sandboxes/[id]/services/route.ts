// GET /api/v1/sandboxes/{id}/services — the sandbox's health and, for extensions that run several
// services (ext.compose-ssh), each service's state, health, published ports and a failed one's last
// lines, asked of the extension now. The detail page's Services card polls it.
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";
import { sandboxServices } from "@/lib/manager/services";

export const dynamic = "force-dynamic";

export const GET = defineRoute(API_ROUTES.sandboxServices, ({ params, req }) => sandboxServices(manager(), params.id, req.signal));
