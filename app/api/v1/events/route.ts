// GET /api/v1/events — the team event stream (lib/manager/team-stream.ts decides what it carries).
// As Server-Sent Events (Accept: text/event-stream, or ?format=sse), resumable with Last-Event-ID;
// as JSON otherwise (the events after ?after, for scripts). docs/live-updates.md describes both.
import { API_ROUTES } from "@/lib/api/openapi";
import { batchedChunks, resumeAfter, SSE_HEADERS, wantsEventStream } from "@/lib/api/sse";
import { acquireActorStreamSlot } from "@/lib/api/stream-limit";
import { actorUserId } from "@/lib/auth/actor";
import { defineRoute } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";
import { teamEventsAfter, teamStreamHub } from "@/lib/manager/team-stream";

export const dynamic = "force-dynamic";

/** Bytes a client may leave unread before its stream is closed (it resumes from its last id). */
const MAX_UNREAD = 1 << 20;

export const GET = defineRoute(API_ROUTES.teamEvents, async ({ query: q, actor, req }) => {
  const m = manager();
  if (!wantsEventStream(q.format, req)) return teamEventsAfter(m, q.after ?? 0);

  const after = resumeAfter(req, q.after ?? null);
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let closed = false;
  let close: (() => void) | null = null;
  const out = batchedChunks((bytes) => {
    if (!closed) controller.enqueue(bytes);
  });
  const finish = () => {
    if (closed) return;
    out.flush();
    closed = true;
    close?.();
    try {
      controller.close();
    } catch {
      // already closed by the client going away
    }
  };
  const stream = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      cancel() {
        closed = true;
        close?.();
      },
    },
    { highWaterMark: 64 * 1024, size: (chunk) => chunk.byteLength },
  );
  const sink = {
    write(text: string): boolean {
      if (closed) return false;
      if ((controller.desiredSize ?? 0) - out.pending() < -MAX_UNREAD) return false;
      out.write(text);
      return true;
    },
    close: finish,
  };
  // One of the person's SANDBOXER_MAX_STREAMS_PER_PERSON stream slots, shared with the sandbox event and
  // build log streams; throws TOO_MANY_STREAMS (429) before any byte is sent. Freed when the stream ends.
  const release = acquireActorStreamSlot(actor);
  // Listened for before the awaits below: a client that leaves while the stream is being opened has
  // already aborted the signal by the time they end, and a listener added then would never run (the
  // stream would stay counted, holding a slot, until a heartbeat failed to write).
  req.signal.addEventListener("abort", finish, { once: true });
  sink.write("retry: 3000\n\n");
  try {
    const leave = await teamStreamHub(m).open(actorUserId(actor) ?? actor.label, after, sink);
    close = () => {
      leave();
      release();
    };
  } catch (err) {
    release();
    throw err;
  }
  if (closed || req.signal.aborted) {
    closed = true;
    close();
  }
  return new Response(stream, { headers: SSE_HEADERS });
});
