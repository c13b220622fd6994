// Rewrites the server's compiled JavaScript so that every character beyond Latin-1 is a \u escape.
// `next build` runs this after compiling (next.config.ts); alone: `node scripts/latin1-server-chunks.mjs [distDir]`.
//
// Why: V8 keeps the source of every loaded script as a string (lazy compilation needs it), and a
// string with even one character beyond U+00FF is stored with two bytes per character. The server's
// chunks are 9 of their 11 MB such files because of a few characters each ("→" and "—" in messages,
// "\uFFFD" in a dependency): a 453 KB chunk held 907 KB. Escaped, they are one byte per character;
// the idle server measured 10–13 MB smaller (docs/performance.md, "Idle memory").
//
// An escape means the same character wherever a minified file can hold one: in string and template
// literals (cooked values), regular expressions, identifiers and comments. A character that was itself
// escaped (`\→`, an identity escape) loses that backslash, so the result is `\u2192`, not `\\u2192`.
// Characters beyond the Basic Multilingual Plane become their surrogate pair, which string literals
// and regular expressions (with or without the u flag) read as the same code point.
import { isAscii } from "node:buffer";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const BEYOND_LATIN1 = /[^\u0000-\u00ff]/gu;

function hex4(n) {
  return `\\u${n.toString(16).padStart(4, "0")}`;
}

/** The source with every character beyond U+00FF written as a \u escape (see above). */
export function escapeBeyondLatin1(source) {
  return escaped(source).text;
}

/** The escaped source and how many characters were escaped. */
function escaped(source) {
  let out = "";
  let from = 0;
  let count = 0;
  for (const m of source.matchAll(BEYOND_LATIN1)) {
    count++;
    const at = m.index;
    let backslashes = 0;
    while (at - backslashes - 1 >= 0 && source[at - backslashes - 1] === "\\") backslashes++;
    // An odd run of backslashes escapes this character: the escape replaces that last backslash.
    out += source.slice(from, backslashes % 2 === 1 ? at - 1 : at);
    const cp = m[0].codePointAt(0);
    out += cp <= 0xffff ? hex4(cp) : hex4(0xd800 + ((cp - 0x10000) >> 10)) + hex4(0xdc00 + ((cp - 0x10000) & 0x3ff));
    from = at + m[0].length;
  }
  return { text: count === 0 ? source : out + source.slice(from), count };
}

function* jsFiles(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* jsFiles(p);
    else if (entry.isFile() && (p.endsWith(".js") || p.endsWith(".cjs") || p.endsWith(".mjs"))) yield p;
  }
}

/** Escapes every server script under `<distDir>/server`; returns how many files and characters changed. */
export function latin1ServerChunks(distDir) {
  const root = path.join(distDir, "server");
  let files = 0;
  let chars = 0;
  if (!fs.existsSync(root)) return { files, chars };
  for (const file of jsFiles(root)) {
    const bytes = fs.readFileSync(file);
    // Pure ASCII (most files): nothing to do, without decoding it.
    if (isAscii(bytes)) continue;
    const { text, count } = escaped(bytes.toString("utf8"));
    if (count === 0) continue;
    fs.writeFileSync(file, text);
    chars += count;
    files++;
  }
  return { files, chars };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const distDir = path.resolve(process.argv[2] ?? ".next");
  const r = latin1ServerChunks(distDir);
  console.log(`${distDir}/server: ${r.chars} characters beyond Latin-1 escaped in ${r.files} files`);
}
