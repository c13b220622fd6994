// GET /api/v1/sandboxes/{id}/sessions — the sandbox's SSH gateway sessions, open and recent
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";
import { sandboxSshSessions } from "@/lib/manager/ssh-sessions";

export const dynamic = "force-dynamic";

export const GET = defineRoute(API_ROUTES.listSandboxSessions, async ({ params }) => {
  const m = manager();
  await m.requireSandbox(params.id);
  return { sessions: await sandboxSshSessions(m, params.id) };
});
