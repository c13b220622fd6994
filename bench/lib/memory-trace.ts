// How a process's memory moved over a long run, from [ms since epoch, bytes] samples: the median of
// each bucket (a line you can read: does it climb, or rise and fall?) and the least-squares slope,
// which a climb of a few MB an hour shows and a first/last-window comparison can miss or overstate.
import { median } from "./stats";

export interface TracePoint {
  /** Minutes from `from` to the bucket's start. */
  atMin: number;
  mb: number;
}

const toMb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

/** Medians of the samples at or after `from`, in buckets of `bucketMs` (a bucket without samples is left out). */
export function bucketMedians(samples: readonly (readonly [number, number])[], from: number, bucketMs: number): TracePoint[] {
  const buckets = new Map<number, number[]>();
  for (const [at, bytes] of samples) {
    if (at < from) continue;
    const i = Math.floor((at - from) / bucketMs);
    let b = buckets.get(i);
    if (!b) buckets.set(i, (b = []));
    b.push(bytes);
  }
  return [...buckets.entries()]
    .sort((x, y) => x[0] - y[0])
    .map(([i, values]) => ({ atMin: Math.round(((i * bucketMs) / 60_000) * 10) / 10, mb: toMb(median(values)) }));
}

/** Least-squares slope of the samples at or after `from`, in MB per hour; null with fewer than two distinct times. */
export function slopeMbPerHour(samples: readonly (readonly [number, number])[], from: number): number | null {
  const pts = samples.filter(([at]) => at >= from);
  if (pts.length < 2) return null;
  const n = pts.length;
  const mx = pts.reduce((a, [t]) => a + t, 0) / n;
  const my = pts.reduce((a, [, b]) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [t, b] of pts) {
    sxy += (t - mx) * (b - my);
    sxx += (t - mx) ** 2;
  }
  if (sxx === 0) return null;
  return Math.round(((sxy / sxx) * 3_600_000 * 10) / 2 ** 20) / 10;
}
