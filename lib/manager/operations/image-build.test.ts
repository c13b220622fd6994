import { describe, expect, it } from "vitest";

import type { Db } from "../../db/client";
import { Notifier } from "../notifier";
import { MAX_TEAM_PAYLOAD } from "../team-events";
import { publishBuildLines } from "./image-build";

type Notice = { action: string; data: { buildId: string; lines: { id: number; message: string }[] } };

/** Where publishBuildLines stores its notices (the event table), and what it warns about. */
function capture() {
  const rows: Notice[] = [];
  const warnings: unknown[] = [];
  const db = {
    event: {
      create: async ({ data }: { data: Notice }) => void rows.push(data),
      createMany: async ({ data }: { data: Notice[] }) => void rows.push(...data),
    },
  } as unknown as Db;
  const ctx = { db, notifier: new Notifier(), logger: { warn: (o: unknown) => void warnings.push(o) } as never };
  return { rows, warnings, ctx };
}

describe("publishBuildLines", () => {
  it("splits a batch into build.log notices within the payload bound, every line once and in order", async () => {
    const { rows, warnings, ctx } = capture();
    // 300 lines of up to 2,000 characters (the cap cleanText applies): far more than one notice holds.
    const lines = Array.from({ length: 300 }, (_, i) => ({
      id: 1_000 + i,
      level: "info",
      message: "x".repeat((i * 37) % 2_000),
      at: "2026-12-01T00:00:00.000Z",
    }));
    await publishBuildLines(ctx, "bld_1", lines);
    expect(warnings).toEqual([]);
    expect(rows.length).toBeGreaterThan(1);
    expect(rows.every((r) => r.action === "build.log" && r.data.buildId === "bld_1")).toBe(true);
    expect(rows.every((r) => JSON.stringify(r.data).length <= MAX_TEAM_PAYLOAD)).toBe(true);
    expect(rows.flatMap((r) => r.data.lines.map((l) => l.id))).toEqual(lines.map((l) => l.id));
  });

  it("sends a line whose JSON alone exceeds the bound shortened, ending in …, instead of dropping it", async () => {
    const { rows, warnings, ctx } = capture();
    // 2,000 characters (the cap) that JSON writes as 2 units each (quotes) or 6 (a control character),
    // between two ordinary lines; and one with astral characters, which must not be cut in half.
    const at = "2026-12-01T00:00:00.000Z";
    const lines = [
      { id: 1, level: "info", message: "before", at },
      { id: 2, level: "info", message: '"'.repeat(2_000), at },
      { id: 3, level: "warn", message: "\u0001".repeat(2_000), at },
      { id: 4, level: "info", message: "\u{1F600}".repeat(1_000) + '"'.repeat(1_000), at },
      { id: 5, level: "info", message: "after", at },
    ];
    await publishBuildLines(ctx, "bld_2", lines);
    expect(warnings).toEqual([]);
    expect(rows.every((r) => JSON.stringify(r.data).length <= MAX_TEAM_PAYLOAD)).toBe(true);
    const sent = rows.flatMap((r) => r.data.lines);
    expect(sent.map((l) => l.id)).toEqual([1, 2, 3, 4, 5]);
    expect(sent[0]!.message).toBe("before");
    expect(sent[4]!.message).toBe("after");
    for (const i of [1, 2, 3]) {
      const { message } = sent[i]!;
      expect(message.endsWith("…")).toBe(true);
      expect(lines[i]!.message.startsWith(message.slice(0, -1))).toBe(true);
      // Shortened only as far as needed: more than half of the bound is still used.
      expect(JSON.stringify(message).length).toBeGreaterThan(MAX_TEAM_PAYLOAD / 2);
    }
    expect(sent[3]!.message).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });
});
