// GET /api/v1/sandboxes/{id}/events — the sandbox's log and state changes.
// As Server-Sent Events (Accept: text/event-stream): `log` and `state` events with their ids, resumable
// with Last-Event-ID, then one `end` event with the sandbox once it is in a final state.
// As JSON (?format=json): the events after ?after=<id> and the sandbox, for polling.
import { eventsQuery, sandboxIdSchema } from "@/lib/api/schemas";
import { defineRoute } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";
import { isTransient } from "@/lib/manager/states";

export const dynamic = "force-dynamic";

const POLL_MS = 1_000;
const KEEPALIVE_MS = 15_000;

export const GET = defineRoute<{ id: string }>({ name: "sandboxes.events" }, async (req, _actor, ctx) => {
  const id = sandboxIdSchema.parse((await ctx.params).id);
  const url = new URL(req.url);
  const q = eventsQuery.parse(Object.fromEntries(url.searchParams));
  const m = manager();
  const sandbox = await m.getSandbox(id); // 404 before any stream starts
  const wantsSse = q.format === "sse" || (q.format !== "json" && (req.headers.get("accept") ?? "").includes("text/event-stream"));
  if (!wantsSse) {
    const events = await m.sandboxEvents(id, q.after);
    return Response.json({ events, sandbox: events.length ? await m.getSandbox(id) : sandbox }, { headers: { "cache-control": "no-store" } });
  }

  const resumeFrom = Number(req.headers.get("last-event-id") ?? q.after) || 0;
  const encoder = new TextEncoder();
  let closed = false;
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      const send = (text: string) => {
        if (!closed) controller.enqueue(encoder.encode(text));
      };
      let wake: (() => void) | null = null;
      const unsubscribe = m.notifier.onSandboxChanged(id, () => wake?.());
      const onAbort = () => {
        closed = true;
        wake?.();
      };
      req.signal.addEventListener("abort", onAbort);
      let last = resumeFrom;
      let lastKeepalive = Date.now();
      send("retry: 2000\n\n");
      try {
        while (!closed) {
          const events = await m.sandboxEvents(id, last, 500);
          for (const e of events) {
            send(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
            last = e.id;
          }
          if (events.length === 500) continue; // more waiting: no pause
          const current = await m.getSandbox(id);
          if (!isTransient(current.status)) {
            // Anything logged between the read above and the status check goes out before the end.
            const tail = await m.sandboxEvents(id, last, 500);
            for (const e of tail) {
              send(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
              last = e.id;
            }
            send(`event: end\ndata: ${JSON.stringify(current)}\n\n`);
            break;
          }
          if (Date.now() - lastKeepalive > KEEPALIVE_MS) {
            send(": keepalive\n\n");
            lastKeepalive = Date.now();
          }
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, POLL_MS);
            wake = () => {
              clearTimeout(t);
              resolve();
            };
          });
          wake = null;
        }
      } catch (e) {
        send(`event: error\ndata: ${JSON.stringify({ code: "STREAM_FAILED", message: (e as Error).message })}\n\n`);
      } finally {
        unsubscribe();
        req.signal.removeEventListener("abort", onAbort);
        if (!closed) {
          closed = true;
          controller.close();
        }
      }
    },
    cancel() {
      closed = true;
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
