// The one place a command string for a remote shell is made. SSH has no argv: the server hands one
// string to the user's login shell, so every argument is quoted here and nowhere else.
//
// The quoting also has to survive rsync's own splitting of its `-e` value, which understands single
// and double quotes but, unlike sh, reads `''` inside single quotes as a literal quote. So a quote
// inside an argument is written as a double-quoted run (`'it'"'"'s'`) rather than the common
// `'it'\''s'`, and no two single-quoted pieces ever touch; both sh and rsync read the same argv.
import "server-only";

import { ValidationError } from "@/lib/errors";

// Left bare so logs stay readable. `=`, `~` and `%` are excluded (a leading `a=b` is an
// assignment, `~` expands, bash reads a leading `%1` as a job), and so is every metacharacter.
const BARE_SAFE = /^[A-Za-z0-9_./:@,+-]+$/;

// Bare reserved words are parsed as syntax (`time ls` times instead of running `time`); quoting
// them keeps each argv entry an ordinary word, whatever its position.
const RESERVED_WORDS = new Set(
  "! { } [[ ]] case coproc do done elif else esac fi for function if in select then time until while".split(" "),
);

// Lone UTF-16 surrogates cannot be encoded as UTF-8; the remote side would get U+FFFD instead.
const LONE_SURROGATE = /\p{Cs}/u;

/** Quotes one argument for a POSIX shell (and for rsync's `-e` splitting). Refuses NUL bytes, which no argv can carry. */
export function quoteArg(s: string): string {
  if (typeof s !== "string") {
    throw new ValidationError("a shell argument must be a string", { argv: ["must be a string"] });
  }
  if (s.includes("\0")) {
    throw new ValidationError("a shell argument cannot contain a NUL byte", { argv: ["contains a NUL byte"] });
  }
  if (LONE_SURROGATE.test(s)) {
    throw new ValidationError("a shell argument cannot contain an unpaired UTF-16 surrogate", {
      argv: ["is not valid Unicode"],
    });
  }
  if (s === "") return "''";
  if (BARE_SAFE.test(s) && !RESERVED_WORDS.has(s)) return s;
  let out = "";
  for (const m of s.matchAll(/('+)|([^']+)/g)) {
    out += m[1] !== undefined ? `"${m[1]}"` : `'${m[2] ?? ""}'`;
  }
  return out;
}

/** Joins an argv into one command string for `sh -c` semantics, each argument quoted. */
export function shellCommand(argv: readonly string[]): string {
  if (argv.length === 0) {
    throw new ValidationError("a command needs at least one argument", { argv: ["is empty"] });
  }
  return argv.map(quoteArg).join(" ");
}
