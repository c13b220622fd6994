// GET /api/v1/sandboxes/{id}/connection — host, port, user, workspace path and a known_hosts line for
// the pinned host key, so the CLI's own ssh/rsync trust exactly what the server verified. No private
// key ever leaves the server: the person connects with their own identity.
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { sandboxConnection } from "@/lib/manager/connection";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

// NOT_CONNECTABLE and HOST_KEY_UNKNOWN become 409 through the error-code table.
export const GET = defineRoute(API_ROUTES.sandboxConnection, ({ params }) => sandboxConnection(manager(), params.id));
