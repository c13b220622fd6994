import { describe, expect, it } from "vitest";

import type { Db } from "../../db/client";
import { Notifier } from "../notifier";
import { MAX_TEAM_PAYLOAD } from "../team-events";
import { publishBuildLines } from "./image-build";

describe("publishBuildLines", () => {
  it("splits a batch into build.log notices within the payload bound, every line once and in order", async () => {
    const rows: { action: string; data: { buildId: string; lines: { id: number }[] } }[] = [];
    const db = {
      event: {
        create: async ({ data }: { data: (typeof rows)[number] }) => void rows.push(data),
        createMany: async ({ data }: { data: typeof rows }) => void rows.push(...data),
      },
    } as unknown as Db;
    const warnings: unknown[] = [];
    // 300 lines of up to 2,000 characters (the cap cleanText applies): far more than one notice holds.
    const lines = Array.from({ length: 300 }, (_, i) => ({
      id: 1_000 + i,
      level: "info",
      message: "x".repeat((i * 37) % 2_000),
      at: "2026-12-01T00:00:00.000Z",
    }));
    await publishBuildLines(
      { db, notifier: new Notifier(), logger: { warn: (o: unknown) => void warnings.push(o) } as never },
      "bld_1",
      lines,
    );
    expect(warnings).toEqual([]);
    expect(rows.length).toBeGreaterThan(1);
    expect(rows.every((r) => r.action === "build.log" && r.data.buildId === "bld_1")).toBe(true);
    expect(rows.every((r) => JSON.stringify(r.data).length <= MAX_TEAM_PAYLOAD)).toBe(true);
    expect(rows.flatMap((r) => r.data.lines.map((l) => l.id))).toEqual(lines.map((l) => l.id));
  });
});
