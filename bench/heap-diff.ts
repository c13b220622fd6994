// node --max-old-space-size=8192 --import tsx bench/heap-diff.ts <before.heapsnapshot> <after.heapsnapshot> [--top 40]
//
// What grew between two V8 heap snapshots of one process (`npm run soak -- --heap-snapshots DIR`, or
// `node --heapsnapshot-signal=SIGUSR2`): objects grouped by their V8 type and constructor (strings,
// code and arrays by type alone), with the change in count and in self size, largest growth first.
// A group that grows with the number of sandboxes created and is never given back is where a leak is.
import path from "node:path";
import { parseArgs } from "node:util";

import { heapGroups } from "./lib/heapsnapshot";

function main(): void {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: "string", default: "40" } } });
  if (positionals.length !== 2) {
    console.error("usage: bench/heap-diff.ts <before.heapsnapshot> <after.heapsnapshot> [--top N]");
    process.exit(2);
  }
  const [before, after] = positionals.map(heapGroups) as [ReturnType<typeof heapGroups>, ReturnType<typeof heapGroups>];
  const total = (m: ReturnType<typeof heapGroups>) =>
    [...m.values()].reduce((a, g) => ({ count: a.count + g.count, size: a.size + g.size }), { count: 0, size: 0 });
  const t0 = total(before);
  const t1 = total(after);
  const mb = (n: number) => (n / 1048576).toFixed(2);
  console.log(`objects ${t0.count} → ${t1.count}; self size ${mb(t0.size)} → ${mb(t1.size)} MB`);
  const rows = [...new Set([...before.keys(), ...after.keys()])].map((k) => {
    const b = before.get(k) ?? { count: 0, size: 0 };
    const a = after.get(k) ?? { count: 0, size: 0 };
    return { k, dCount: a.count - b.count, dSize: a.size - b.size, count: a.count, size: a.size };
  });
  rows.sort((x, y) => y.dSize - x.dSize);
  console.log("Δ size (KB)  Δ count   now count  now size (KB)  group");
  for (const r of rows.slice(0, Number(values.top))) {
    console.log(
      `${(r.dSize / 1024).toFixed(1).padStart(11)}  ${String(r.dCount).padStart(7)}  ${String(r.count).padStart(10)}  ${(r.size / 1024).toFixed(1).padStart(13)}  ${r.k}`,
    );
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) main();
