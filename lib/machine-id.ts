// The machine this process runs on, as sand-boxer names it: an id kept in the data directory
// (`<SANDBOXER_DATA_DIR>/machine-id`), made once on first start. Local sandboxes (ext.local) live in a
// directory of one machine; they record its id, and only workers on that machine run their
// operations. Two processes sharing a data directory are on one machine; copying a data directory to
// another machine copies its identity too (delete the file there to make a new one).
import "server-only";

import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const MACHINE_ID_FILE = "machine-id";
const VALID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

function fresh(): string {
  const host = os
    .hostname()
    .replace(/[^A-Za-z0-9.-]/g, "-")
    .replace(/^[^A-Za-z0-9]+/, "")
    .slice(0, 40);
  return `${host || "machine"}-${randomBytes(4).toString("hex")}`;
}

/** Reads the data directory's machine id, creating it (atomically: first writer wins) when absent. */
export function machineIdOf(dataDir: string): string {
  const file = path.join(dataDir, MACHINE_ID_FILE);
  const read = (): string | null => {
    try {
      const id = fs.readFileSync(file, "utf8").trim();
      if (!VALID.test(id)) throw new Error(`${file} holds no valid machine id (expected letters, digits, . _ -; at most 63)`);
      return id;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw e;
    }
  };
  const existing = read();
  if (existing) return existing;
  fs.mkdirSync(dataDir, { recursive: true });
  try {
    fs.writeFileSync(file, `${fresh()}\n`, { flag: "wx", mode: 0o644 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  return read()!;
}
