// Remote output arrives in chunks that may end mid-line (and may carry ANSI colours, or \r progress
// updates). Extensions log whole, clean lines: this turns chunks into them.
import "server-only";

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;
const MAX_LINE = 500;

export interface LineSplitter {
  push(chunk: Buffer | string): void;
  /** Emits what is left after the last newline (call when the command ends). */
  flush(): void;
}

export function lineSplitter(onLine: (line: string) => void): LineSplitter {
  let pending = "";
  const emit = (line: string) => {
    const clean = line.replace(ANSI, "").trim();
    if (clean) onLine(clean.length > MAX_LINE ? `${clean.slice(0, MAX_LINE)}…` : clean);
  };
  return {
    push(chunk) {
      const parts = (pending + (typeof chunk === "string" ? chunk : chunk.toString("utf8"))).split(/\r?\n|\r/);
      pending = parts.pop() ?? "";
      for (const p of parts) emit(p);
    },
    flush() {
      emit(pending);
      pending = "";
    },
  };
}
