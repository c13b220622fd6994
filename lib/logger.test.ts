import { Writable } from "node:stream";

import { createLogger as createBetterAuthLogger } from "@better-auth/core/env";
import { APIError } from "better-auth/api";
import { describe, expect, it } from "vitest";

import { betterAuthErrorLogger, betterAuthLogger, createLogger, logFormat, routeConsole } from "./logger";

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().split("\n").filter(Boolean));
      cb();
    },
  });
  return { lines, log: createLogger("debug", stream) };
}

describe("logger", () => {
  it("pretty for a terminal, JSON otherwise; LOG_FORMAT overrides", () => {
    expect(logFormat({ isTTY: true }, undefined)).toBe("pretty");
    expect(logFormat({ isTTY: false }, undefined)).toBe("json");
    expect(logFormat({}, undefined)).toBe("json");
    expect(logFormat({ isTTY: true }, "json")).toBe("json");
    expect(logFormat({ isTTY: false }, "pretty")).toBe("pretty");
  });

  it("better-auth's errors become one JSON record each, without ANSI colour, errors serialised", () => {
    const { lines, log } = capture();
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

  it("better-auth's refusals (4xx) are info records with status and code; 5xx and other errors stay errors", () => {
    const { lines, log } = capture();
    const onError = betterAuthErrorLogger(() => log);
    onError(new APIError("BAD_REQUEST", { code: "PASSWORD_TOO_WEAK", message: "password: too common" }));
    onError(new APIError("UNAUTHORIZED", { message: "Invalid email or password" }));
    onError(new APIError("INTERNAL_SERVER_ERROR", { message: "Failed to create user" }));
    onError(new Error("SQLITE_BUSY: database is locked"));
    const recs = lines.map(
      (l) => JSON.parse(l) as { level: number; msg: string; component: string; status?: number; code?: string; err?: { message: string } },
    );
    expect(recs.map((r) => [r.level, r.status, r.code])).toEqual([
      [30, 400, "PASSWORD_TOO_WEAK"],
      [30, 401, undefined],
      [50, undefined, undefined],
      [50, undefined, undefined],
    ]);
    expect(recs[0]!.msg).toBe("refused: password: too common");
    expect(recs[1]!.msg).toBe("refused: Invalid email or password");
    expect(recs[2]!.err?.message).toBe("Failed to create user");
    expect(recs[3]!.err?.message).toBe("SQLITE_BUSY: database is locked");
    expect(recs.every((r) => r.component === "better-auth")).toBe(true);
  });

  it("console.* output routed through the logger is JSON", () => {
    const { lines, log } = capture();
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
