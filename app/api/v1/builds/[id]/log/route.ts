// GET /api/v1/builds/{id}/log — a build's log. As Server-Sent Events (Accept: text/event-stream or
// ?format=sse): `line` events with their ids as Packer prints them (resumable with Last-Event-ID),
// then `end` with the build once it has ended. Otherwise JSON: the lines after ?after and the build.
import { API_ROUTES } from "@/lib/api/openapi";
import { pullEventStream, resumeAfter, wantsEventStream, type SseMessage } from "@/lib/api/sse";
import { acquireActorStreamSlot } from "@/lib/api/stream-limit";
import { defineRoute } from "@/lib/auth/guards";
import { buildLogStream, getImageBuild, imageBuildLog } from "@/lib/manager/images";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const GET = defineRoute(API_ROUTES.imageBuildLog, async ({ params: { id }, query: q, req, actor }) => {
  const m = manager();
  if (!wantsEventStream(q.format, req)) {
    const lines = await imageBuildLog(m, id, q.after);
    return Response.json({ lines, build: await getImageBuild(m, id) }, { headers: { "cache-control": "no-store" } });
  }
  await getImageBuild(m, id); // 404 before any stream starts
  // One of the person's SANDBOXER_MAX_STREAMS_PER_PERSON stream slots (429 beyond), freed when it ends.
  const release = acquireActorStreamSlot(actor);
  const after = resumeAfter(req, q.after);
  return pullEventStream(
    req,
    async function* (signal): AsyncGenerator<SseMessage> {
      for await (const item of buildLogStream(m, id, { after, signal })) {
        if (item.kind === "line") yield { id: item.line.id, event: "line", data: item.line };
        else if (item.kind === "keepalive") yield { comment: "keepalive" };
        else yield { event: "end", data: item.build };
      }
    },
    { onClose: release },
  );
});
