// POST /api/v1/profiles/{id}/check — runs the profile's extension check() against each host it could
// use (`sandboxer doctor`). Bounded by a time limit and by the client going away; creates nothing.
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";
import { checkProfile } from "@/lib/manager/profile-check";

export const dynamic = "force-dynamic";

export const POST = defineRoute(API_ROUTES.checkProfile, ({ params, req }) => checkProfile(manager(), params.id, { signal: req.signal }));
