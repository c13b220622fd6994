// Summarises a V8 .cpuprofile (what `node --cpu-prof` writes): self time per function and per
// package/file, so a missed target can be traced to where the server spent its time.
import fs from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  idleMs: number;
  topFunctions: { name: string; where: string; selfMs: number; pct: number }[];
  topModules: { module: string; selfMs: number; pct: number }[];
}

function moduleOf(url: string): string {
  if (!url) return "(native/v8)";
  const nm = url.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const rest = url.slice(nm + "node_modules/".length).split("/");
    return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.includes("/.next/server/")) return ".next/server (app bundle)";
  if (url.startsWith("node:")) return url;
  return url.replace(/^file:\/\//, "");
}

export function summarizeCpuProfile(file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the time since the previous sample; attribute the next delta to this sample.
    const dt = (deltas[i + 1] ?? deltas[i] ?? 0) / 1000;
    self.set(samples[i]!, (self.get(samples[i]!) ?? 0) + dt);
  }
  const totalMs = (profile.endTime - profile.startTime) / 1000;
  let idleMs = 0;
  const fns = new Map<string, { name: string; where: string; selfMs: number }>();
  const mods = new Map<string, number>();
  for (const [id, ms] of self) {
    const node = byId.get(id);
    if (!node) continue;
    const name = node.callFrame.functionName || "(anonymous)";
    if (name === "(idle)" || name === "(program)" || name === "(garbage collector)") {
      if (name === "(idle)") idleMs += ms;
    }
    const where = node.callFrame.url ? `${moduleOf(node.callFrame.url)}:${node.callFrame.lineNumber + 1}` : "";
    const key = `${name}@${where}`;
    const f = fns.get(key) ?? { name, where, selfMs: 0 };
    f.selfMs += ms;
    fns.set(key, f);
    if (name !== "(idle)") {
      const m = name.startsWith("(") ? name : moduleOf(node.callFrame.url);
      mods.set(m, (mods.get(m) ?? 0) + ms);
    }
  }
  const busy = Math.max(1, totalMs - idleMs);
  const r = (v: number) => Math.round(v * 10) / 10;
  return {
    file,
    totalMs: r(totalMs),
    idleMs: r(idleMs),
    topFunctions: [...fns.values()]
      .filter((f) => f.name !== "(idle)")
      .sort((a, b) => b.selfMs - a.selfMs)
      .slice(0, top)
      .map((f) => ({ ...f, selfMs: r(f.selfMs), pct: r((f.selfMs / busy) * 100) })),
    topModules: [...mods.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([module, ms]) => ({ module, selfMs: r(ms), pct: r((ms / busy) * 100) })),
  };
}
