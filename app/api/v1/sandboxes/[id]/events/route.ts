// GET /api/v1/sandboxes/{id}/events — the sandbox's log and state changes.
// As Server-Sent Events (Accept: text/event-stream, or ?format=sse): `log` and `state` events with
// their ids, resumable with Last-Event-ID (or ?after), then one `end` event with the sandbox once it
// is in a final state (lib/manager/event-stream.ts decides what to send and when to end).
// As JSON (?format=json, or any other Accept): the events after ?after=<id> and the sandbox, for polling.
import { API_ROUTES } from "@/lib/api/openapi";
import { acquireStreamSlot } from "@/lib/api/stream-limit";
import { actorUserId } from "@/lib/auth/actor";
import { defineRoute } from "@/lib/auth/guards";
import { env } from "@/lib/env";
import { sandboxEventStream } from "@/lib/manager/event-stream";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const GET = defineRoute(API_ROUTES.sandboxEvents, async ({ params: { id }, query: q, req, actor }) => {
  const m = manager();
  const wantsSse = q.format === "sse" || (q.format !== "json" && (req.headers.get("accept") ?? "").includes("text/event-stream"));
  if (!wantsSse) {
    // Events first: the sandbox read after them is at least as new (and a missing id is a 404 there).
    const events = await m.sandboxEvents(id, q.after);
    return Response.json({ events, sandbox: await m.getSandbox(id) }, { headers: { "cache-control": "no-store" } });
  }
  await m.sandboxStatus(id); // 404 before any stream starts
  // At most SANDBOXER_MAX_STREAMS_PER_PERSON open at once (429 beyond); the slot is freed when the stream ends.
  const release = acquireStreamSlot(actorUserId(actor) ?? actor.label, env().SANDBOXER_MAX_STREAMS_PER_PERSON);

  const lastEventId = Number(req.headers.get("last-event-id"));
  const resumeFrom = Number.isSafeInteger(lastEventId) && lastEventId > 0 ? lastEventId : q.after;
  const encoder = new TextEncoder();
  // Ends the stream when the client goes away (request aborted) or cancels the body.
  const stop = new AbortController();
  req.signal.addEventListener("abort", () => stop.abort(), { once: true });
  stop.signal.addEventListener("abort", release, { once: true });
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      const send = (text: string) => {
        if (!stop.signal.aborted) controller.enqueue(encoder.encode(text));
      };
      send("retry: 2000\n\n");
      try {
        for await (const item of sandboxEventStream(m, id, { after: resumeFrom, signal: stop.signal })) {
          if (item.kind === "event") send(`id: ${item.event.id}\nevent: ${item.event.type}\ndata: ${JSON.stringify(item.event)}\n\n`);
          else if (item.kind === "keepalive") send(": keepalive\n\n");
          else send(`event: end\ndata: ${JSON.stringify(item.sandbox)}\n\n`);
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
