import path from "node:path";

import fc from "fast-check";
import { describe, expect, it } from "vitest";

import { ValidationError } from "@/lib/errors";
import { SANDBOX_ID_PATTERN } from "@/lib/sandbox-id";

import { remoteWorkspacePath, validateRemotePath, validateWorkspaceRoot } from "./workspace-path";

function fieldOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return Object.keys((e as ValidationError).fieldErrors);
  }
  throw new Error("expected a ValidationError");
}

describe("remoteWorkspacePath", () => {
  it("builds <root>/sbx-<id>", () => {
    expect(remoteWorkspacePath("/build", "abcdefgh")).toBe("/build/sbx-abcdefgh");
    expect(remoteWorkspacePath("/srv/build area/ws", "a1234567890")).toBe("/srv/build area/ws/sbx-a1234567890");
  });

  it.each([
    ["", "empty"],
    ["/", "the file-system root"],
    ["build", "relative"],
    ["./build", "relative with dot"],
    ["/build/", "trailing slash"],
    ["/build//x", "double slash"],
    ["//build", "leading double slash"],
    ["/build/../etc", "dot-dot segment"],
    ["/build/..", "trailing dot-dot"],
    ["/build/.", "trailing dot"],
    ["/./build", "dot segment"],
    ["/build\n/etc", "newline"],
    ["/build\0", "NUL"],
    ["/build\t", "tab"],
    ["/bu\u001bild", "escape character"],
    ["/bu\u007fild", "DEL"],
    ["/bÜild", "non-ASCII"],
    ["/build/\u202e", "bidi override"],
    ["/ /x", "blank segment"],
    ["/" + "a".repeat(1100), "too long"],
  ])("refuses root %j (%s), naming the field", (root) => {
    expect(fieldOf(() => remoteWorkspacePath(root, "abcdefgh"))).toEqual(["root"]);
  });

  it.each([
    ["", "empty"],
    ["ABCDEFGH", "uppercase"],
    ["abc", "too short"],
    ["1abcdefgh", "leading digit"],
    ["abcdefgh/..", "slash"],
    ["abcdefgh ", "space"],
    ["abcd-efgh", "dash"],
    ["abcdefgh\n", "newline"],
    ["../../etc", "traversal"],
    ["a".repeat(40), "too long"],
  ])("refuses id %j (%s), naming the field", (id) => {
    expect(fieldOf(() => remoteWorkspacePath("/build", id))).toEqual(["id"]);
  });

  it("names the field in validateRemotePath errors", () => {
    expect(fieldOf(() => validateRemotePath("relative", "destination"))).toEqual(["destination"]);
    expect(validateWorkspaceRoot("/build")).toBe("/build");
  });

  it("either refuses or returns a path directly under a normalised root (property)", () => {
    const segment = fc.oneof(
      { arbitrary: fc.constantFrom("build", "srv", "a b", "x-1", "$(id)", "~", "'q'"), weight: 4 },
      { arbitrary: fc.constantFrom(".", "..", "", " ", "\n", "é", "\u0000"), weight: 1 },
      { arbitrary: fc.string({ unit: "binary-ascii", maxLength: 6 }), weight: 2 },
    );
    const hostileRoot = fc.oneof(
      fc.string({ unit: "binary", maxLength: 30 }),
      fc.array(segment, { maxLength: 5 }).map((s) => "/" + s.join("/")),
      fc.array(segment, { maxLength: 5 }).map((s) => s.join("/")),
      fc.array(segment, { maxLength: 5 }).map((s) => "/" + s.join("/") + "/"),
    );
    const hostileId = fc.oneof(
      fc.string({ unit: "binary", maxLength: 40 }),
      { arbitrary: fc.stringMatching(SANDBOX_ID_PATTERN), weight: 3 },
      fc.constantFrom("abcdefgh", "../abcdefg", "abcdefgh/x", "abcdefgh\n", "ABCDEFGH"),
    );
    let accepted = 0;
    fc.assert(
      fc.property(hostileRoot, hostileId, (root, id) => {
        let result: string;
        try {
          result = remoteWorkspacePath(root, id);
        } catch (e) {
          expect(e).toBeInstanceOf(ValidationError);
          return;
        }
        accepted++;
        expect(result).toBe(`${root}/sbx-${id}`);
        expect(SANDBOX_ID_PATTERN.test(id)).toBe(true);
        expect(root.startsWith("/")).toBe(true);
        expect(root).not.toBe("/");
        expect(path.posix.normalize(root)).toBe(root);
        expect(root.endsWith("/")).toBe(false);
        expect(path.posix.dirname(result)).toBe(root);
        expect(path.posix.relative(root, result)).toBe(`sbx-${id}`);
        expect(/[\0-\x1f\x7f]/.test(result)).toBe(false);
      }),
      { numRuns: 2000 },
    );
    // The generators must also reach the accepting branch, or the property proves nothing.
    expect(accepted).toBeGreaterThan(50);
  });
});
