// A build page's log lines: merged by id from the first render, the team stream's `build.log`
// notices (which a replay may repeat) and the API's catch-up fetch, in any order.
import type { BuildLogLineView } from "@/lib/manager/images";

/** `shown` plus the lines of `incoming` it does not have, in id order; `shown` itself when nothing is new. */
export function mergeLines(shown: BuildLogLineView[], incoming: BuildLogLineView[]): BuildLogLineView[] {
  const known = new Set(shown.map((l) => l.id));
  const fresh = incoming.filter((l) => !known.has(l.id));
  if (fresh.length === 0) return shown;
  return [...shown, ...fresh].sort((a, b) => a.id - b.id);
}
