// node --max-old-space-size=8192 --import tsx scripts/heap-diff.ts <before.heapsnapshot> <after.heapsnapshot> [--top 40]
//
// What grew between two V8 heap snapshots of one process (`npm run soak -- --heap-snapshots DIR`, or
// `node --heapsnapshot-signal=SIGUSR2`): objects grouped by their V8 type and constructor (or, for
// strings and code, the type alone), with the change in count and in self size, largest growth first.
// A group that grows with the number of sandboxes created and is never given back is where a leak is.
import fs from "node:fs";
import { parseArgs } from "node:util";

interface Group {
  count: number;
  size: number;
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Groups whose name is data rather than a kind of object (every string its own name). */
const BY_TYPE_ONLY = new Set(["string", "concatenated string", "sliced string", "code", "number", "bigint", "array"]);

export function groupHeap(s: Snapshot): Map<string, Group> {
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const groups = new Map<string, Group>();
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + typeAt]!] ?? "?";
    const key = BY_TYPE_ONLY.has(type) ? `(${type})` : `${type} ${s.strings[s.nodes[i + nameAt]!]!.slice(0, 80)}`;
    const g = groups.get(key) ?? { count: 0, size: 0 };
    g.count++;
    g.size += s.nodes[i + sizeAt]!;
    groups.set(key, g);
  }
  return groups;
}

function load(file: string): Map<string, Group> {
  return groupHeap(JSON.parse(fs.readFileSync(file, "utf8")) as Snapshot);
}

function main(): void {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: "string", default: "40" } } });
  if (positionals.length !== 2) {
    console.error("usage: scripts/heap-diff.ts <before.heapsnapshot> <after.heapsnapshot> [--top N]");
    process.exit(2);
  }
  const [before, after] = positionals.map(load) as [Map<string, Group>, Map<string, Group>];
  const total = (m: Map<string, Group>) =>
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

if (process.argv[1] && import.meta.filename === (await import("node:path")).resolve(process.argv[1])) main();
