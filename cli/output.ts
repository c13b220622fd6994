// How the CLI prints: aligned tables and short times for people (stdout), progress and diagnostics
// on stderr (so `id=$(sandboxer create … --wait)` and `--json | jq` see only the result), and JSON
// for scripts.
import { formatDuration } from "@/lib/duration";

export function out(line = ""): void {
  process.stdout.write(line + "\n");
}

/** Progress, prompts and diagnostics: stderr, so stdout carries only the result. */
export function note(line = ""): void {
  process.stderr.write(line + "\n");
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + "\n");
}

/** Columns padded to their widest cell; the last column is never padded. */
export function table(headers: string[], rows: string[][]): string {
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
