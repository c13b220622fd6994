import { createLogger as createBetterAuthLogger } from "@better-auth/core/env";
import { describe, expect, it } from "vitest";

import { captureLogs } from "@/tests/support/log-capture";

import { betterAuthLogger, logFormat, routeConsole } from "./logger";

describe("logger", () => {
  it("pretty for a terminal, JSON otherwise; LOG_FORMAT overrides", () => {
    expect(logFormat({ isTTY: true }, undefined)).toBe("pretty");
    expect(logFormat({ isTTY: false }, undefined)).toBe("json");
    expect(logFormat({}, undefined)).toBe("json");
    expect(logFormat({ isTTY: true }, "json")).toBe("json");
    expect(logFormat({ isTTY: false }, "pretty")).toBe("pretty");
  });

  it("better-auth's errors become one JSON record each, without ANSI colour, errors serialised", () => {
    const { lines, log } = captureLogs();
    // better-auth's own logger factory, given our option, as betterAuth({ logger }) builds it.
    const ba = createBetterAuthLogger(betterAuthLogger(() => log));
    ba.error("\u001b[31mFailed to create user\u001b[0m", new Error("unique constraint"));
    ba.info("not shown below warn");
    expect(lines).toHaveLength(1);
    const rec = JSON.parse(lines[0]!) as { level: number; msg: string; component: string; err: { message: string } };
    expect(rec.component).toBe("better-auth");
    expect(rec.level).toBe(50);
    expect(rec.msg).toBe("Failed to create user");
    expect(rec.err.message).toBe("unique constraint");
    expect(lines[0]).not.toMatch(/\u001b/);
  });

  it("console.* output routed through the logger is JSON", () => {
    const { lines, log } = captureLogs();
    const target = { log() {}, info() {}, warn() {}, error() {}, debug() {} } as Pick<Console, "log" | "info" | "warn" | "error" | "debug">;
    routeConsole(log, target);
    target.error("⨯ request failed %s", "GET /x", new Error("boom"));
    target.log("\u001b[32m✓\u001b[0m ready");
    const recs = lines.map((l) => JSON.parse(l) as { level: number; msg: string; err?: { message: string } });
    expect(recs.map((r) => [r.level, r.msg])).toEqual([
      [50, "⨯ request failed GET /x"],
      [30, "✓ ready"],
    ]);
    expect(recs[0]!.err?.message).toBe("boom");
  });
});
