import { describe, expect, it } from "vitest";

import { safeNextPath } from "./safe-next";

describe("safeNextPath", () => {
  it("keeps same-site paths with their query and fragment", () => {
    expect(safeNextPath("/sandboxes/abc?x=1#top")).toBe("/sandboxes/abc?x=1#top");
    expect(safeNextPath("/")).toBe("/");
    expect(safeNextPath("/docs/a%20b")).toBe("/docs/a%20b");
    expect(safeNextPath("/\tevil.example")).toBe("/evil.example"); // a tab is dropped: a path here
  });

  it.each([
    ["/\\evil.example/x"], // ?next=/%5Cevil.example/x (the review's case)
    ["/\t/evil.example"], // ?next=/%09/evil.example: tabs are dropped, leaving //evil.example
    ["/\n/evil.example"],
    ["//evil.example"],
    ["/\\/evil.example"],
    ["https://evil.example/"],
    ["javascript:alert(1)"],
    ["evil.example"],
    [""],
  ])("sends %j home instead of to another origin", (next) => {
    expect(safeNextPath(next)).toBe("/");
  });

  it("sends nothing and non-strings home", () => {
    expect(safeNextPath(undefined)).toBe("/");
    expect(safeNextPath(null)).toBe("/");
  });
});
