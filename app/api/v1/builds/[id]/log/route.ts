// GET /api/v1/builds/{id}/log — a build's log. As Server-Sent Events (Accept: text/event-stream or
// ?format=sse): `line` events with their ids as Packer prints them (resumable with Last-Event-ID),
// then `end` with the build once it has ended. Otherwise JSON: the lines after ?after and the build.
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { buildLogStream, getImageBuild, imageBuildLog } from "@/lib/manager/images";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const GET = defineRoute(API_ROUTES.imageBuildLog, async ({ params: { id }, query: q, req }) => {
  const m = manager();
  const wantsSse = q.format === "sse" || (q.format !== "json" && (req.headers.get("accept") ?? "").includes("text/event-stream"));
  if (!wantsSse) {
    const lines = await imageBuildLog(m, id, q.after);
    return Response.json({ lines, build: await getImageBuild(m, id) }, { headers: { "cache-control": "no-store" } });
  }
  await getImageBuild(m, id); // 404 before any stream starts
  const lastEventId = Number(req.headers.get("last-event-id"));
  const after = Number.isSafeInteger(lastEventId) && lastEventId > 0 ? lastEventId : q.after;
  const encoder = new TextEncoder();
  const stop = new AbortController();
  req.signal.addEventListener("abort", () => stop.abort(), { once: true });
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      const send = (text: string) => {
        if (!stop.signal.aborted) controller.enqueue(encoder.encode(text));
      };
      send("retry: 2000\n\n");
      try {
        for await (const item of buildLogStream(m, id, { after, signal: stop.signal })) {
          if (item.kind === "line") send(`id: ${item.line.id}\nevent: line\ndata: ${JSON.stringify(item.line)}\n\n`);
          else if (item.kind === "keepalive") send(": keepalive\n\n");
          else send(`event: end\ndata: ${JSON.stringify(item.build)}\n\n`);
        }
      } catch (e) {
        send(`event: error\ndata: ${JSON.stringify({ code: "STREAM_FAILED", message: (e as Error).message })}\n\n`);
      } finally {
        if (!stop.signal.aborted) {
          stop.abort();
          controller.close();
        }
      }
    },
    cancel() {
      stop.abort();
    },
  });
  return new Response(stream, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store, no-transform",
      connection: "keep-alive",
      "x-accel-buffering": "no",
    },
  });
});
