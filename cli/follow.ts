// Waiting for a sandbox to settle while showing what happens: state changes and log lines from the
// event stream, on stderr, as they arrive.
import type { SandboxEventView, SandboxView } from "@/lib/manager/views";

import type { ApiClient } from "./api-client";
import { clock, note } from "./output";

export function progressLine(e: SandboxEventView): string {
  if (e.type === "state") return `${clock(e.at)}  → ${e.status ?? "?"}${e.message ? `: ${e.message}` : ""}`;
  return `${clock(e.at)}    ${e.level === "info" ? "" : `[${e.level}] `}${e.message}`;
}

/**
 * Follows the sandbox's events until it reaches a final state and returns it. With `show`, each
 * event is printed as it arrives (the stream replays the earlier ones first).
 */
export async function followSandbox(client: ApiClient, id: string, opts: { show: boolean; signal?: AbortSignal }): Promise<SandboxView> {
  for await (const item of client.events(id, { signal: opts.signal })) {
    if (item.kind === "end") return item.sandbox;
    if (opts.show) note(progressLine(item.event));
  }
  // ApiClient.events returns only right after yielding `end`; everything else throws.
  throw new Error(`the event stream of ${id} ended without its end event`);
}
