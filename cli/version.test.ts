import fs from "node:fs";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { CLI_VERSION, versionMismatch } from "./version";

describe("the CLI's version", () => {
  it("is the server's (package.json): a CLI downloaded from a server matches it", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, "..", "package.json"), "utf8")) as { version: string };
    expect(CLI_VERSION).toBe(pkg.version);
  });

  it("warns only when the server says another version, and repeats only a plain version string", () => {
    expect(versionMismatch("https://s.example", CLI_VERSION)).toBeNull();
    expect(versionMismatch("https://s.example", null)).toBeNull();
    expect(versionMismatch("https://s.example", "9.9.9")).toBe(
      `⚠ this sandboxer is ${CLI_VERSION}, the server runs 9.9.9; get the matching CLI: curl -fsSL -o ~/.local/bin/sandboxer https://s.example/cli/sandboxer.cjs`,
    );
    expect(versionMismatch("https://s.example", "1.0\u001b[2J")).toContain("the server runs another version;");
  });
});
