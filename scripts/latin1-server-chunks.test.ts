import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import vm from "node:vm";

import { describe, expect, it } from "vitest";

import { escapeBeyondLatin1, latin1ServerChunks } from "./latin1-server-chunks.mjs";

/** What a script evaluates to, run as the server would run it. */
const run = (source: string): unknown => vm.runInNewContext(source);

describe("escapeBeyondLatin1", () => {
  it("leaves ASCII and Latin-1 alone, and returns the same string when there is nothing to escape", () => {
    const s = `"plain ascii; café × 2 ½"`;
    expect(escapeBeyondLatin1(s)).toBe(s);
  });

  it("writes each character beyond U+00FF as an escape that evaluates to the same value", () => {
    const cases = [
      `"Settings → API tokens — done…"`,
      "`a template → ${1 + 1} — end`",
      `/[–—]+/.test("a—b") && "x→y".replace(/→/g, "->")`,
      `"\\→ identity escape"`,
      `"\\\\→ an escaped backslash, then the character"`,
      `"emoji 😀 and \\uFFFD ￾"`,
      `/^😀$/u.test("😀") + "/" + /^\\uD83D\\uDE00$/.test("😀")`,
      `(() => { const café→ = 1; return typeof café→; })()`.replace(/→/g, "ℵ"),
      `"// comment → inside a string"; // and → in a comment`,
    ];
    for (const source of cases) {
      const escaped = escapeBeyondLatin1(source);
      expect(
        [...escaped].every((c) => c.charCodeAt(0) <= 0xff),
        escaped,
      ).toBe(true);
      expect(run(escaped), source).toEqual(run(source));
    }
    expect(escapeBeyondLatin1(`"→"`)).toBe(`"\\u2192"`);
    expect(escapeBeyondLatin1(`"\\→"`)).toBe(`"\\u2192"`);
    expect(escapeBeyondLatin1(`"\\\\→"`)).toBe(`"\\\\\\u2192"`);
    expect(escapeBeyondLatin1(`"😀"`)).toBe(`"\\ud83d\\ude00"`);
  });
});

describe("latin1ServerChunks", () => {
  it("rewrites only the server's scripts that need it, and says how many", () => {
    const dist = fs.mkdtempSync(path.join(os.tmpdir(), "latin1-"));
    try {
      fs.mkdirSync(path.join(dist, "server", "chunks"), { recursive: true });
      fs.mkdirSync(path.join(dist, "static"), { recursive: true });
      const write = (rel: string, text: string) => fs.writeFileSync(path.join(dist, rel), text);
      write("server/chunks/a.js", `module.exports = "a → b";`);
      write("server/chunks/b.js", `module.exports = "ascii";`);
      write("server/chunks/c.js", `module.exports = "café";`);
      write("server/chunks/d.json", `{"x": "→"}`);
      write("static/e.js", `"→"`);
      const before = fs.statSync(path.join(dist, "server/chunks/b.js")).mtimeMs;
      expect(latin1ServerChunks(dist)).toEqual({ files: 1, chars: 1 });
      expect(fs.readFileSync(path.join(dist, "server/chunks/a.js"), "utf8")).toBe(`module.exports = "a \\u2192 b";`);
      expect(fs.readFileSync(path.join(dist, "server/chunks/c.js"), "utf8")).toBe(`module.exports = "café";`);
      expect(fs.statSync(path.join(dist, "server/chunks/b.js")).mtimeMs).toBe(before);
      expect(fs.readFileSync(path.join(dist, "server/chunks/d.json"), "utf8")).toBe(`{"x": "→"}`);
      expect(fs.readFileSync(path.join(dist, "static/e.js"), "utf8")).toBe(`"→"`);
      // Again: nothing left to do.
      expect(latin1ServerChunks(dist)).toEqual({ files: 0, chars: 0 });
    } finally {
      fs.rmSync(dist, { recursive: true, force: true });
    }
  });
});
