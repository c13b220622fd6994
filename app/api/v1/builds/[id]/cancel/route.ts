// POST /api/v1/builds/{id}/cancel — stop a build (admins): Packer is killed
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { cancelImageBuild } from "@/lib/manager/images";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const POST = defineRoute(API_ROUTES.cancelImageBuild, ({ params, actor }) => cancelImageBuild(manager(), actor, params.id));
