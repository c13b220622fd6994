// Remote output arrives in chunks that may end mid-line (and may carry ANSI colours, or \r progress
// updates). Extensions log whole, clean lines: this turns chunks into them.
import "server-only";

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;
// What is left of other escape sequences and control characters once colours are gone: C0 but the
// tab, DEL, C1, and the bidirectional controls that reorder what a reader sees. NUL among them would
// also fail the insert on PostgreSQL, which refuses it in text.
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const MAX_LINE = 500;

/**
 * One line of what a host printed, fit for a log, a status reason and a terminal: colours dropped,
 * other control characters shown as U+FFFD, no trailing blanks, at most MAX_LINE characters.
 */
export function cleanOutputLine(line: string): string {
  const clean = line.replace(ANSI, "").replace(CONTROL, "\ufffd").trimEnd();
  return clean.length > MAX_LINE ? `${clean.slice(0, MAX_LINE)}…` : clean;
}

export interface LineSplitter {
  push(chunk: Buffer | string): void;
  /** Emits what is left after the last newline (call when the command ends). */
  flush(): void;
}

export function lineSplitter(onLine: (line: string) => void): LineSplitter {
  let pending = "";
  const emit = (line: string) => {
    const clean = cleanOutputLine(line.trimStart());
    if (clean) onLine(clean);
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
