// How the CLI prints: aligned tables and short times for people (stdout), progress and diagnostics
// on stderr (so `id=$(sandboxer create … --wait)` and `--json | jq` see only the result), and JSON
// for scripts.
import { formatDuration } from "@/lib/duration";

// Control characters (C0 but newline and tab, DEL, C1) and bidirectional overrides. Text from the
// server — names, reasons, log lines written by build VMs — could otherwise clear the screen, retitle
// the window or reorder what an admin reads; everything this module prints goes through terminalSafe.
const UNSAFE_FOR_TERMINAL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c]/g;

/** `text` without control characters and bidi overrides (newlines and tabs are kept). */
export function terminalSafe(text: string): string {
  return text.replace(UNSAFE_FOR_TERMINAL, "");
}

export function out(line = ""): void {
  process.stdout.write(terminalSafe(line) + "\n");
}

/** Progress, prompts and diagnostics: stderr, so stdout carries only the result. */
export function note(line = ""): void {
  process.stderr.write(terminalSafe(line) + "\n");
}

/**
 * `sandboxer show … | head`: when the reader goes away, stop quietly (exit 0, as cat and ls do)
 * instead of dying on an unhandled EPIPE with a stack trace.
 */
export function exitQuietlyOnBrokenPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "EPIPE") process.exit(0);
      throw e;
    });
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + "\n");
}

/** Columns padded to their widest cell; the last column is never padded. */
export function table(headers: string[], rawRows: string[][]): string {
  // Cells come from the server: one line each, measured after cleaning.
  const rows = rawRows.map((r) => r.map((c) => terminalSafe(c.replace(/[\r\n\t]+/g, " "))));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n");
}

/** "in 7h 59m", "3m ago", or "-" for no date. */
export function relative(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return "-";
  const ms = new Date(iso).getTime() - now;
  return ms >= 0 ? `in ${formatDuration(ms)}` : `${formatDuration(-ms)} ago`;
}

/** HH:MM:SS in local time, for progress lines. */
export function clock(iso: string): string {
  const d = new Date(iso);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

export const OK_MARK = "✓";
export const FAIL_MARK = "✗";
export const WARN_MARK = "⚠";
