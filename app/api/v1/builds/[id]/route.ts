// GET /api/v1/builds/{id} — one image build
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { getImageBuild } from "@/lib/manager/images";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const GET = defineRoute(API_ROUTES.getImageBuild, ({ params }) => getImageBuild(manager(), params.id));
