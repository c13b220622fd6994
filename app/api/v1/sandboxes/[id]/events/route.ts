// GET /api/v1/sandboxes/{id}/events — the sandbox's log and state changes.
// As Server-Sent Events (Accept: text/event-stream, or ?format=sse): `log` and `state` events with
// their ids, resumable with Last-Event-ID (or ?after), then one `end` event with the sandbox once it
// is in a final state (lib/manager/event-stream.ts decides what to send and when to end).
// As JSON (?format=json, or any other Accept): the events after ?after=<id> and the sandbox, for polling.
import { API_ROUTES } from "@/lib/api/openapi";
import { pullEventStream, resumeAfter, wantsEventStream, type SseMessage } from "@/lib/api/sse";
import { acquireActorStreamSlot } from "@/lib/api/stream-limit";
import { defineRoute } from "@/lib/auth/guards";
import { sandboxEventStream } from "@/lib/manager/event-stream";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const GET = defineRoute(API_ROUTES.sandboxEvents, async ({ params: { id }, query: q, req, actor }) => {
  const m = manager();
  if (!wantsEventStream(q.format, req)) {
    // Events first: the sandbox read after them is at least as new (and a missing id is a 404 there).
    const events = await m.sandboxEvents(id, q.after);
    return Response.json({ events, sandbox: await m.getSandbox(id) }, { headers: { "cache-control": "no-store" } });
  }
  const knownStatus = await m.sandboxStatus(id); // 404 before any stream starts
  // At most SANDBOXER_MAX_STREAMS_PER_PERSON open at once (429 beyond); the slot is freed when the stream ends.
  const release = acquireActorStreamSlot(actor);
  const after = resumeAfter(req, q.after);
  return pullEventStream(
    req,
    async function* (signal): AsyncGenerator<SseMessage> {
      for await (const item of sandboxEventStream(m, id, { after, signal, knownStatus })) {
        if (item.kind === "event") yield { id: item.event.id, event: item.event.type, data: item.event };
        else if (item.kind === "keepalive") yield { comment: "keepalive" };
        else yield { event: "end", data: item.sandbox };
      }
    },
    { onClose: release },
  );
});
