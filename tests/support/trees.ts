// Source trees for sync tests: many small files spread over numbered directories.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/**
 * A fresh temp directory holding `files` files: file `f<i>` sits in directory `d<i % dirs>` and holds
 * the line "<i>\n" repeated `repeat` times (so `d7/f7` is "7\n" × repeat).
 */
export function numberedTree(files: number, opts: { dirs?: number; repeat?: number; prefix?: string } = {}): string {
  const { dirs = 100, repeat = 1, prefix = "sbx-tree-" } = opts;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  for (let i = 0; i < files; i++) {
    const sub = path.join(dir, `d${i % dirs}`);
    if (i < dirs) fs.mkdirSync(sub);
    fs.writeFileSync(path.join(sub, `f${i}`), `${i}\n`.repeat(repeat));
  }
  return dir;
}
