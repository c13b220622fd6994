// POST /api/v1/images/{id}/channels — { channel, version }: point a channel at a built version (admins)
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { listImages, setChannel } from "@/lib/manager/images";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const POST = defineRoute(API_ROUTES.setImageChannel, async ({ params, body, actor }) => {
  await setChannel(manager(), actor, params.id, body.channel, body.version);
  return listImages(manager());
});
