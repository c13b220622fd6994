// What open event streams cost the database, from the server's own counters on /api/metrics
// (sandboxer_db_statements_total: every statement the process runs; sandboxer_event_stream_reads_total:
// the team stream hub's reads). Shared by e2e/live.spec.ts and the bench's dashboard part, which both
// compare a window with streams open against one with none.
//
// Both counters come from the SAME /api/metrics read: a read costs statements of its own (the session
// lookup, the scrape), so a second reader running beside a window would count against it. A maintenance
// pass (~10 statements every few seconds) falls in some windows and not others: with several windows, a
// rate is the lowest of them.

/** Fetches the /api/metrics text (with whatever credentials the caller has). */
export type ReadMetrics = () => Promise<string>;

export function metricValue(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  if (!line) throw new Error(`${name} not in /api/metrics:\n${text.slice(0, 400)}`);
  return Number(line.split(" ").at(-1));
}

/** The sum of every series of `name` (one per label set, e.g. per build VM); 0 when there is none. */
export function metricSum(text: string, name: string): number {
  return text
    .split("\n")
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0);
}

export async function readMetric(read: ReadMetrics, name: string): Promise<number> {
  return metricValue(await read(), name);
}

export interface IdleRates {
  /** Database statements per second, whole process. */
  statements: number;
  /** The team stream hub's reads per second (all open streams together). */
  hubReads: number;
}

/** Per-second rates over `windows` windows of `windowMs` each, both from the same reads; the lowest of each. */
export async function idleRates(read: ReadMetrics, { windowMs = 4_000, windows = 2 } = {}): Promise<IdleRates> {
  const counters = async () => {
    const text = await read();
    return {
      statements: metricValue(text, "sandboxer_db_statements_total"),
      hubReads: metricValue(text, "sandboxer_event_stream_reads_total"),
    };
  };
  const out = { statements: Infinity, hubReads: Infinity };
  for (let i = 0; i < windows; i++) {
    const a = await counters();
    await new Promise((r) => setTimeout(r, windowMs));
    const b = await counters();
    out.statements = Math.min(out.statements, ((b.statements - a.statements) * 1000) / windowMs);
    out.hubReads = Math.min(out.hubReads, ((b.hubReads - a.hubReads) * 1000) / windowMs);
  }
  return out;
}

/** Waits until sandboxer_event_streams_open is `n` (the server notices a closed tab within a moment). */
export async function waitForOpenStreams(read: ReadMetrics, n: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = NaN;
  while (Date.now() < deadline) {
    last = await readMetric(read, "sandboxer_event_streams_open");
    if (last === n) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`sandboxer_event_streams_open stayed ${last}, expected ${n}, for ${timeoutMs} ms`);
}
