import { APIError } from "better-auth/api";
import { describe, expect, it } from "vitest";

import { captureLogs } from "@/tests/support/log-capture";

import { apiErrorLogger } from "./api-error-log";

describe("apiErrorLogger", () => {
  it("better-auth's refusals (4xx) are info records with status and code; 5xx and other errors stay errors", () => {
    const { lines, log } = captureLogs();
    const onError = apiErrorLogger(() => log);
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
});
