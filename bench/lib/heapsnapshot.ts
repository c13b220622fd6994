// Summarises a V8 .heapsnapshot (what `--heapsnapshot-signal` writes): self size per node type and
// per constructor, and the largest single objects — enough to see what the server's heap holds.
import fs from "node:fs";

interface RawSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] }; node_count: number };
  nodes: number[];
  strings: string[];
}

export interface HeapSummary {
  file: string;
  totalMb: number;
  byType: { type: string; mb: number; count: number }[];
  topConstructors: { name: string; mb: number; count: number }[];
  largestObjects: { type: string; name: string; kb: number }[];
}

const MB = 2 ** 20;
const r1 = (v: number) => Math.round(v * 10) / 10;

/** Calls `visit` with each node's V8 type, name and self size. */
function eachNode(file: string, visit: (type: string, name: string, size: number) => void): void {
  const raw = JSON.parse(fs.readFileSync(file, "utf8")) as RawSnapshot;
  const fields = raw.snapshot.meta.node_fields;
  const types = raw.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf("type");
  const iName = fields.indexOf("name");
  const iSize = fields.indexOf("self_size");
  for (let i = 0; i < raw.nodes.length; i += width) {
    visit(types[raw.nodes[i + iType]!] ?? "?", raw.strings[raw.nodes[i + iName]!] ?? "", raw.nodes[i + iSize]!);
  }
}

/** Groups whose node name is data rather than a kind of object (every string is its own name). */
const BY_TYPE_ONLY = new Set(["string", "concatenated string", "sliced string", "code", "number", "bigint", "array"]);

/**
 * Every node of a snapshot, grouped by V8 type and constructor (strings, code and arrays by type
 * alone), with their count and self size in bytes: what `bench/heap-diff.ts` compares.
 */
export function heapGroups(file: string): Map<string, { count: number; size: number }> {
  const groups = new Map<string, { count: number; size: number }>();
  eachNode(file, (type, name, size) => {
    const key = BY_TYPE_ONLY.has(type) ? `(${type})` : `${type} ${name.slice(0, 80)}`;
    const g = groups.get(key) ?? { count: 0, size: 0 };
    g.count++;
    g.size += size;
    groups.set(key, g);
  });
  return groups;
}

export function summarizeHeapSnapshot(file: string, top = 15): HeapSummary {
  const byType = new Map<string, { size: number; count: number }>();
  const byCtor = new Map<string, { size: number; count: number }>();
  const largest: { type: string; name: string; size: number }[] = [];
  let total = 0;
  eachNode(file, (type, name, size) => {
    total += size;
    const t = byType.get(type) ?? { size: 0, count: 0 };
    t.size += size;
    t.count++;
    byType.set(type, t);
    if (type === "object" || type === "closure" || type === "array" || type === "native") {
      const key = `${type}:${name.slice(0, 80)}`;
      const c = byCtor.get(key) ?? { size: 0, count: 0 };
      c.size += size;
      c.count++;
      byCtor.set(key, c);
    }
    if (size >= 256 * 1024) largest.push({ type, name: name.slice(0, 120).replace(/\s+/g, " "), size });
  });
  return {
    file,
    totalMb: r1(total / MB),
    byType: [...byType.entries()]
      .sort((a, b) => b[1].size - a[1].size)
      .slice(0, top)
      .map(([type, v]) => ({ type, mb: r1(v.size / MB), count: v.count })),
    topConstructors: [...byCtor.entries()]
      .sort((a, b) => b[1].size - a[1].size)
      .slice(0, top)
      .map(([name, v]) => ({ name, mb: r1(v.size / MB), count: v.count })),
    largestObjects: largest
      .sort((a, b) => b.size - a.size)
      .slice(0, top)
      .map((o) => ({ type: o.type, name: o.name, kb: Math.round(o.size / 1024) })),
  };
}
