// GET /api/v1/images — images, channels and built versions with the hosts running them
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { listImages } from "@/lib/manager/images";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const GET = defineRoute(API_ROUTES.listImages, () => listImages(manager()));
