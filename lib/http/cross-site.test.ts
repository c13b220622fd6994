import { describe, expect, it } from "vitest";

import { hasCode } from "../errors";
import { assertSameSiteWrite, isJsonContentType } from "./cross-site";

const ALLOWED = ["https://sandboxer.example"];

function check(method: string, headers: Record<string, string>): unknown {
  try {
    assertSameSiteWrite(new Request("https://sandboxer.example/api/v1/sandboxes", { method, headers }), ALLOWED);
    return null;
  } catch (e) {
    return e;
  }
}

describe("assertSameSiteWrite", () => {
  it("lets safe methods through whatever their origin", () => {
    expect(check("GET", { origin: "https://evil.example" })).toBeNull();
    expect(check("HEAD", {})).toBeNull();
  });

  it("wants an allowed Origin on every write", () => {
    for (const headers of <Record<string, string>[]>[
      {},
      { origin: "null" },
      { origin: "https://evil.example" },
      { origin: "https://sandboxer.example:444" },
    ]) {
      const e = check("POST", { ...headers, "content-type": "application/json" });
      expect(hasCode(e, "CROSS_SITE_REQUEST"), JSON.stringify(headers)).toBe(true);
    }
    expect(hasCode(check("DELETE", {}), "CROSS_SITE_REQUEST")).toBe(true);
    expect(check("DELETE", { origin: "https://sandboxer.example" })).toBeNull();
  });

  it("wants JSON on writes with a body", () => {
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/json-seq"]) {
      expect(hasCode(check("POST", { origin: ALLOWED[0]!, "content-type": type }), "CROSS_SITE_REQUEST"), type).toBe(true);
    }
    expect(check("POST", { origin: ALLOWED[0]!, "content-type": "application/json; charset=utf-8" })).toBeNull();
    expect(check("PATCH", { origin: ALLOWED[0]!, "content-type": "Application/JSON" })).toBeNull();
  });

  it("recognises application/json with parameters only", () => {
    expect(isJsonContentType(null)).toBe(false);
    expect(isJsonContentType("application/json")).toBe(true);
    expect(isJsonContentType(" application/json ;charset=utf-8")).toBe(true);
    expect(isJsonContentType("application/jsonx")).toBe(false);
  });
});
