// Open event streams per person, in this server process. A stream holds a connection and a poll loop
// for as long as the client keeps it open, so one person (a script, a runaway tab) must not be able to
// open thousands. Every long-lived stream route takes a slot here and gives it back when it ends.
import "server-only";

import { actorUserId, type Actor } from "../auth/actor";
import { env } from "../env";
import { SandboxerError } from "../errors";

export const DEFAULT_MAX_STREAMS_PER_PERSON = 16;

const globalForStreams = globalThis as unknown as { __sandboxerStreams?: Map<string, number> };
const open = (globalForStreams.__sandboxerStreams ??= new Map<string, number>());

/**
 * Takes one of `personId`'s stream slots, or throws TOO_MANY_STREAMS (429). Returns the release
 * function; calling it more than once releases once.
 */
export function acquireStreamSlot(personId: string, max = DEFAULT_MAX_STREAMS_PER_PERSON): () => void {
  const n = open.get(personId) ?? 0;
  if (n >= max) {
    throw new SandboxerError(
      "TOO_MANY_STREAMS",
      `You already have ${n} event streams open on this server (at most ${max}); close a tab or a \`sandboxer show --follow\` first`,
      { details: { open: n, max } },
    );
  }
  open.set(personId, n + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const left = (open.get(personId) ?? 1) - 1;
    if (left <= 0) open.delete(personId);
    else open.set(personId, left);
  };
}

/** Open streams of one person (tests and metrics). */
export function openStreams(personId: string): number {
  return open.get(personId) ?? 0;
}

/** One of `actor`'s SANDBOXER_MAX_STREAMS_PER_PERSON slots (429 beyond), for a stream route; returns the release. */
export function acquireActorStreamSlot(actor: Actor): () => void {
  return acquireStreamSlot(actorUserId(actor) ?? actor.label, env().SANDBOXER_MAX_STREAMS_PER_PERSON);
}
