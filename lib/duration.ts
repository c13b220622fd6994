// Durations as people write them in profiles and the environment: "90s", "15m", "8h", "2d", "1h30m".
import { ValidationError } from "./errors";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** What parseDuration accepts (untrimmed), for schemas and argument checks that reject early. */
export const DURATION_PATTERN = /^(\d+(ms|s|m|h|d))+$/;

/** Parses "8h", "90s", "1h30m", "250ms" into milliseconds. */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  const re = /(\d+)(ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(trimmed); m; m = re.exec(trimmed)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    consumed = re.lastIndex;
  }
  if (!trimmed || consumed !== trimmed.length) {
    throw new ValidationError(`"${text}" is not a duration (use e.g. 90s, 15m, 8h, 2d or 1h30m)`);
  }
  return total;
}

/** "2h 5m", "45s", "3d 4h": the two largest units, for people. */
export function formatDuration(ms: number): string {
  const neg = ms < 0;
  let rest = Math.round(Math.abs(ms) / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [
    ["d", 86_400],
    ["h", 3_600],
    ["m", 60],
    ["s", 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0 || (unit === "s" && parts.length === 0)) parts.push(`${n}${unit}`);
    rest -= n * size;
    if (parts.length === 2) break;
  }
  return (neg ? "-" : "") + parts.join(" ");
}
