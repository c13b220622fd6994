// POST /api/v1/images/{id}/builds — { hostId? }: start a packer build (admins)
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { startImageBuild } from "@/lib/manager/images";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const POST = defineRoute(API_ROUTES.startImageBuild, ({ params, body, actor }) =>
  startImageBuild(manager(), actor, { image: params.id, hostId: body.hostId }),
);
