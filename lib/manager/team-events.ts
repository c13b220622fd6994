// Publishing on the team event stream (GET /api/v1/events; docs/live-updates.md). Sandbox log lines and
// state changes are on it already (they are rows of the event table); anything else a dashboard should
// see at once — a host's health, a gateway session, a pool's size, an image build's log — is a *topic*:
// add one line to TeamTopics, call publishTeamEvent where the change happens, and subscribe in the
// browser with useTeamTopic (app/lib/team-stream.ts).
//
// A notice is a row of the event table (type `team`, `action` = topic, `data` = payload), so it reaches
// every instance's streams (each tails the table), and a stream that reconnects with Last-Event-ID gets
// what it missed. Keep payloads small and free of secrets: every signed-in person receives them.
import "server-only";

import type { Db, Prisma } from "../db/client";
import { appendEvents } from "../db/events";
import type { Notifier } from "./notifier";
import type { HostView } from "./views";

/** Every topic and its payload. Add yours here (one line); the browser side reads the same type. */
export interface TeamTopics {
  /**
   * A host's health, key, load or cordon changed, or it was added or removed: `host` is the host as it
   * is now (null: removed; absent: too large for a notice, refetch). lib/manager/host-views.ts.
   */
  "host.changed": { hostId: string; host?: HostView | null };
  /**
   * Lines of an image build's log as they are stored (cleaned and capped by the build; a notice holds
   * as many as fit in MAX_TEAM_PAYLOAD, the rest go in the next). The build page appends them by id.
   */
  "build.log": { buildId: string; lines: BuildLogLine[] };
  /** A build started, ended or was cancelled: the build page refetches it (GET /api/v1/builds/{id}). */
  "build.changed": { buildId: string; state: string };
}

/** One line of a build's log (the API's BuildLogLine). */
export interface BuildLogLine {
  id: number;
  level: string;
  message: string;
  at: string;
}

export type TeamTopic = keyof TeamTopics;

/** The largest payload a notice may carry (serialised); larger ones are a bug in the publisher. */
export const MAX_TEAM_PAYLOAD = 4_096;

/**
 * Stores a notice and wakes this process's streams (other instances at once on PostgreSQL, lib/db/wake.ts;
 * at their next poll, within 2 s, on SQLite). Never throws: a dashboard notice must not fail the change it describes.
 */
export async function publishTeamEvent<T extends TeamTopic>(
  deps: { db: Db; notifier: Notifier; logger?: { warn: (obj: object, msg: string) => void } },
  topic: T,
  data: TeamTopics[T],
): Promise<void> {
  try {
    const json = JSON.stringify(data);
    if (json.length > MAX_TEAM_PAYLOAD) throw new Error(`team event ${topic}: payload of ${json.length} bytes (max ${MAX_TEAM_PAYLOAD})`);
    await appendEvents(deps.db, [{ type: "team", action: topic, message: topic, data: data as unknown as Prisma.InputJsonValue }]);
    deps.notifier.teamEvent();
  } catch (err) {
    deps.logger?.warn({ err, topic }, "could not publish a team event");
  }
}
