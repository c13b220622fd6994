// POST /api/v1/ssh-sessions/{id}/end — an admin ends an SSH session (any instance picks it up within a second)
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";
import { endSshSessionAsAdmin } from "@/lib/manager/ssh-sessions";

export const dynamic = "force-dynamic";

export const POST = defineRoute(API_ROUTES.endSshSession, ({ actor, params }) => endSshSessionAsAdmin(manager(), actor, params.id));
