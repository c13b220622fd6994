// The short form of `npm run soak` (bench/soak.ts): the same fleet — two instances and a standalone
// worker on PostgreSQL, two sshd VMs — under a steady mix of creates, destroys, extends and reads,
// with one SIGKILL of a random process and its restart. Nothing lost, duplicated or orphaned.
import { describe, expect, it } from "vitest";

import { runSoak } from "../../bench/soak";

describe("soak (short form)", () => {
  it("90 s of mixed load with a chaos kill: 0 lost, 0 duplicated, 0 orphaned", async () => {
    const r = await runSoak({
      minutes: 1.5,
      chaosEveryMs: 40_000,
      users: 3,
      maxLive: 8,
      warmupMs: 20_000,
      log: (l) => console.log(`[soak] ${l}`),
    });
    console.log(
      `[measure] short soak: ${JSON.stringify({ ...r, rss: r.rss.length, lostDetails: r.lostDetails, failedReasons: r.failedReasons })}`,
    );
    expect(r.lostDetails).toEqual([]);
    expect(r.duplicatedDetails).toEqual([]);
    expect(r.orphanDetails).toEqual([]);
    expect(r.chaos.length).toBeGreaterThanOrEqual(1);
    expect(r.operations.creates).toBeGreaterThan(5);
    expect(r.operations.destroys).toBeGreaterThan(2);
  }, 180_000);
});
