// A generated "repository" to sync: `files` files (including a .gitignore) in nested directories,
// sizes spread from ~200 B to ~8 KB (about 2.7 KB on average, so 2,000 files ≈ 5.4 MB), with
// source-like text that compresses about as well as real code. Deterministic for a given count.
import fs from "node:fs";
import path from "node:path";

const WORDS = [
  "import",
  "export",
  "const",
  "function",
  "return",
  "module",
  "where",
  "data",
  "type",
  "class",
  "instance",
  "let",
  "in",
  "case",
  "of",
  "if",
  "then",
  "else",
  "deriving",
  "newtype",
  "sandbox",
  "workspace",
  "build",
  "cabal",
  "ghc",
  "value",
  "result",
  "error",
  "config",
  "handle",
  "state",
];

/** A small deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface GeneratedRepo {
  dir: string;
  files: number;
  bytes: number;
}

export function generateRepo(dir: string, files: number): GeneratedRepo {
  const rand = prng(files * 7919 + 17);
  fs.mkdirSync(dir, { recursive: true });
  const gitignore = "dist-newstyle/\n*.o\n*.hi\n";
  fs.writeFileSync(path.join(dir, ".gitignore"), gitignore);
  let bytes = gitignore.length;
  const perDir = 50;
  for (let i = 0; i < files - 1; i++) {
    const d = path.join(dir, "src", `pkg${Math.floor(i / perDir / 8)}`, `mod${Math.floor(i / perDir) % 8}`);
    if (i % perDir === 0) fs.mkdirSync(d, { recursive: true });
    const size = Math.floor(200 + rand() * rand() * 10_000);
    let text = `-- file ${i}\nmodule M${i} where\n`;
    while (text.length < size) {
      const n = 3 + Math.floor(rand() * 9);
      const line: string[] = [];
      for (let w = 0; w < n; w++) line.push(rand() < 0.2 ? `v${Math.floor(rand() * 100_000)}` : WORDS[Math.floor(rand() * WORDS.length)]!);
      text += "  ".repeat(Math.floor(rand() * 3)) + line.join(" ") + "\n";
    }
    fs.writeFileSync(path.join(d, `M${i}.hs`), text);
    bytes += Buffer.byteLength(text);
  }
  return { dir, files, bytes };
}

/** Regular files and total bytes under dir (for checking a synced workspace is complete). */
export function countTree(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        files++;
        bytes += fs.statSync(p).size;
      }
    }
  };
  walk(dir);
  return { files, bytes };
}
