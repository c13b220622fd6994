import { describe, expect, it } from "vitest";

import { ERROR_CODES } from "./error-codes";
import { ConflictError, hasCode } from "./errors";
import { httpStatusFor } from "./http-errors";

describe("the error-code table", () => {
  it("gives every code a status and a description", () => {
    for (const [code, spec] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^[A-Z][A-Z0-9_]+$/);
      expect(spec.status).toBeGreaterThanOrEqual(400);
      expect(spec.description.length).toBeGreaterThan(10);
    }
  });

  it("is the HTTP mapping", () => {
    expect(httpStatusFor("VALIDATION_FAILED")).toBe(400);
    expect(httpStatusFor("QUOTA_EXCEEDED")).toBe(409);
    expect(httpStatusFor("SSH_CONNECT_REFUSED")).toBe(502);
    // Codes of extensions outside the repository (see docs/extension-sdk.md) are internal errors.
    expect(httpStatusFor("NOTES_FILE")).toBe(500);
  });

  it("is what hasCode matches", () => {
    const e = new ConflictError("BUSY", "try again");
    expect(hasCode(e, "BUSY")).toBe(true);
    expect(hasCode(e, "QUOTA_EXCEEDED")).toBe(false);
    // @ts-expect-error — a code that is not in the table does not compile
    expect(hasCode(e, "BUSSY")).toBe(false);
  });
});
