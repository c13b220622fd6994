// POST /api/v1/hosts/{id}/drain — { reason? }: cordon, destroy idle pool members, list what still runs (admins)
// GET  /api/v1/hosts/{id}/drain — the host's cordon state and what still runs there
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { drainHost, hostDrainReport } from "@/lib/manager/host-lifecycle";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const POST = defineRoute(API_ROUTES.drainHost, ({ params, body, actor }) => drainHost(manager(), actor, params.id, body.reason));

export const GET = defineRoute(API_ROUTES.hostDrainReport, ({ params }) => hostDrainReport(manager(), params.id));
