// What a notifier passes on, for the tests of wake-ups across processes (tests/integration/wake*.test.ts):
// "o" (an operation queued), "t" (a team notice), "s <sandbox id>" (a sandbox's events), in order.
import type { Notifier } from "@/lib/manager/notifier";

export interface WakeRecorder {
  readonly seen: string[];
  /** How often `entry` was passed on. */
  count(entry: string): number;
  /** Resolves once `entry` was passed on `times` times (5 s at most). */
  arrival(entry: string, times?: number): Promise<void>;
  /**
   * Writes a team notice through `writeTeamNotice` (the other process's connection), then waits for it:
   * everything that process committed before it has been passed on by then.
   */
  barrier(writeTeamNotice: () => unknown): Promise<void>;
}

/** The SQL of the sentinel team notice `barrier` callers write. */
export const SENTINEL_TEAM_NOTICE = `INSERT INTO "Event" ("type", "message", "action") VALUES ('team', 'sentinel', 'test.sentinel')`;

export function recordWakeUps(notifier: Notifier): WakeRecorder {
  const seen: string[] = [];
  notifier.onOperationQueued(() => seen.push("o"));
  notifier.onTeamEvent(() => seen.push("t"));
  notifier.onSandboxChanged("*", (id) => seen.push(`s ${id}`));
  const count = (entry: string) => seen.filter((s) => s === entry).length;
  const arrival = async (entry: string, times = 1) => {
    const until = Date.now() + 5_000;
    while (count(entry) < times) {
      if (Date.now() > until) throw new Error(`no wake-up "${entry}" within 5 s; seen: ${seen.join(", ")}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  return {
    seen,
    count,
    arrival,
    async barrier(writeTeamNotice) {
      const before = count("t");
      await writeTeamNotice();
      await arrival("t", before + 1);
    },
  };
}
