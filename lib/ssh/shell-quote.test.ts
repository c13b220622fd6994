import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";

import { ValidationError } from "@/lib/errors";

import { quoteArg, shellCommand } from "./shell-quote";

/** What /bin/sh makes of our command string: the argv printf receives, NUL-separated. */
function roundTripThroughSh(args: string[]): string[] {
  const out = execFileSync("/bin/sh", ["-c", `printf '%s\\0' ${args.map(quoteArg).join(" ")}`]);
  const parts = out.toString("utf8").split("\0");
  parts.pop(); // after the last terminator
  return parts;
}

const HOSTILE = [
  "",
  " ",
  "a b",
  "  leading and trailing  ",
  "it's",
  "'",
  "''",
  "'''a''",
  '"',
  'say "hi"',
  "$(id)",
  "${HOME}",
  "$HOME",
  "`id`",
  "line1\nline2",
  "\n",
  "\r\n",
  "tab\there",
  "; rm -rf /",
  "a && b || c",
  "*",
  "?",
  "[a-z]",
  "{a,b}",
  "~",
  "~root",
  "-n",
  "--help",
  "-e",
  "a=b",
  "FOO=bar",
  "!",
  "#comment",
  "%1",
  "\\",
  "\\n",
  "back\\slash'quote\"dq",
  "é✓😀 ünïcödé",
  "\u001b[31mred",
  "\u007f",
  "time",
  "if",
  "}",
  "|",
  ">out",
  "<in",
  "&",
];

describe("quoteArg", () => {
  it.each(HOSTILE.map((s) => [JSON.stringify(s), s]))("survives /bin/sh unchanged: %s", (_label, s) => {
    expect(roundTripThroughSh([s])).toEqual([s]);
  });

  it("keeps plain words readable and quotes everything else", () => {
    expect(quoteArg("ls")).toBe("ls");
    expect(quoteArg("/build/sbx-abcdefgh")).toBe("/build/sbx-abcdefgh");
    expect(quoteArg("--one-file-system")).toBe("--one-file-system");
    expect(quoteArg("a b")).toBe("'a b'");
    expect(quoteArg("")).toBe("''");
    expect(quoteArg("it's")).toBe(`'it'"'"'s'`);
    expect(quoteArg("'")).toBe(`"'"`);
    expect(quoteArg("a=b")).toBe("'a=b'");
    expect(quoteArg("~")).toBe("'~'");
    expect(quoteArg("time")).toBe("'time'");
  });

  it("refuses NUL bytes and unpaired surrogates", () => {
    expect(() => quoteArg("a\0b")).toThrow(ValidationError);
    expect(() => quoteArg("\0")).toThrow(/NUL/);
    expect(() => quoteArg("\ud800")).toThrow(ValidationError);
    expect(() => quoteArg("a\udfffb")).toThrow(ValidationError);
    expect(quoteArg("😀")).toBe("'😀'");
  });

  it("round-trips arbitrary strings through /bin/sh (property, 300 generated argvs in one shell)", () => {
    const shellish = fc.string({
      unit: fc.constantFrom(..."'\"\\$`()[]{};&|<>*?~!#%= \t\n\r-aZ9/._é😀"),
    });
    const arg = fc.oneof(fc.string({ unit: "binary" }), shellish, fc.string()).filter((s) => !s.includes("\0"));
    // One /bin/sh runs every case (a shell per case took 45 s on a loaded machine): each case is one
    // printf line, and the argv it printed is read back by the case's argument count.
    const cases = fc.sample(fc.array(arg, { minLength: 1, maxLength: 6 }), { numRuns: 300 });
    const script = cases.map((args) => `printf '%s\\0' ${args.map(quoteArg).join(" ")}`).join("\n");
    const parts = execFileSync("/bin/sh", ["-c", script], { maxBuffer: 64 * 1024 * 1024 })
      .toString("utf8")
      .split("\0");
    let at = 0;
    for (const args of cases) {
      expect(parts.slice(at, at + args.length), `argv ${JSON.stringify(args)}`).toEqual(args);
      at += args.length;
    }
    expect(parts.length, "nothing printed beyond the cases").toBe(at + 1);
  });
});

describe("quoteArg inside rsync's -e value", () => {
  // rsync splits its -e value itself (not with sh). A stand-in "ssh" prints the argv it got.
  const dir = mkdtempSync(path.join(tmpdir(), "sbx-quote-"));
  const dump = path.join(dir, "dump args");
  writeFileSync(dump, '#!/bin/sh\nfor a in "$@"; do printf \'%s\\0\' "$a" >&2; done\nexit 1\n');
  chmodSync(dump, 0o755);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function throughRsyncE(args: string[]): string[] {
    const r = spawnSync("rsync", ["-e", shellCommand([dump, ...args]), `${dir}/`, "nohost:/x"], { encoding: "buffer" });
    // Our args come first, then rsync's own (host, "rsync", "--server", …).
    const got = r.stderr.toString("utf8").split("\0");
    return got.slice(0, args.length);
  }

  it("is split back into the same words (paths with spaces and quotes)", () => {
    // `a''b` is the case the usual `'\''` idiom gets wrong for rsync.
    const args = ["-i", "/keys/my key", "-o", "UserKnownHostsFile=/tmp/a b/known_hosts", "it's", "a''b", "'x", "y'", ""];
    expect(throughRsyncE(args)).toEqual(args);
  });

  it("round-trips arbitrary single-line strings (property)", () => {
    const arg = fc.string({ unit: fc.constantFrom(..."'\" \\$a/b-=~*é") });
    fc.assert(
      fc.property(fc.array(arg, { minLength: 1, maxLength: 4 }), (args) => {
        expect(throughRsyncE(args)).toEqual(args);
      }),
      { numRuns: 60 },
    );
    // 60 rsync processes: on a loaded 2-core machine this alone took 30 s.
  }, 120_000);
});

describe("shellCommand", () => {
  it("joins quoted arguments and refuses an empty argv", () => {
    expect(shellCommand(["echo", "a b", "$x"])).toBe("echo 'a b' '$x'");
    expect(() => shellCommand([])).toThrow(ValidationError);
  });

  it("runs exactly the argv it was given", () => {
    const argv = ["printf", "%s|", "a b", "; echo pwned", "$(echo pwned)"];
    const out = execFileSync("/bin/sh", ["-c", shellCommand(argv)]).toString();
    expect(out).toBe("a b|; echo pwned|$(echo pwned)|");
  });
});
