// A logger (lib/logger.ts's createLogger, level debug) whose JSON lines a unit test reads back.
import { Writable } from "node:stream";

import { createLogger } from "@/lib/logger";

export function captureLogs(): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().split("\n").filter(Boolean));
      cb();
    },
  });
  return { lines, log: createLogger("debug", stream) };
}
