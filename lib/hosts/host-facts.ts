// What the health check learns about a build VM besides "it answers with its pinned key": its load
// average, CPU count and available memory (for placement), and the image marker its image build wrote
// (name, version, build time — see docs/images.md). One SSH exec, the marker path passed as an
// argument (never spliced into the script).
import { z } from "zod";

export interface ImageMarker {
  name: string;
  version: string;
  builtAt: Date | null;
}

export interface HostFacts {
  loadAverage: number | null;
  cpuCount: number | null;
  freeMemoryBytes: number | null;
  marker: ImageMarker | null;
  /** Why there is no marker (absent, unreadable, not JSON, wrong shape), or null. */
  markerProblem: string | null;
}

/** The remote script: $1 is the marker path. Output: loadavg, CPU count, MemAvailable line, a separator, the marker (bounded). */
export const HOST_FACTS_SCRIPT = [
  "cat /proc/loadavg 2>/dev/null || echo",
  "getconf _NPROCESSORS_ONLN 2>/dev/null || echo",
  "grep '^MemAvailable:' /proc/meminfo 2>/dev/null || echo",
  "echo '--- sandboxer marker ---'",
  'if [ -r "$1" ]; then head -c 8192 -- "$1"; else echo "marker-missing"; fi',
].join("; ");

export function hostFactsArgv(markerPath: string): string[] {
  return ["sh", "-c", HOST_FACTS_SCRIPT, "sandboxer-facts", markerPath];
}

const markerSchema = z.looseObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/),
  version: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,62}$/),
  builtAt: z.string().max(64).optional(),
  build_time: z.string().max(64).optional(),
});

export function parseMarker(text: string): { marker: ImageMarker | null; problem: string | null } {
  const t = text.trim();
  if (t === "marker-missing") return { marker: null, problem: "no image marker on the host" };
  let json: unknown;
  try {
    json = JSON.parse(t);
  } catch {
    return { marker: null, problem: "the image marker is not JSON" };
  }
  const m = markerSchema.safeParse(json);
  if (!m.success)
    return { marker: null, problem: `the image marker needs "name" and "version" (${m.error.issues[0]?.path.join(".") ?? ""})` };
  const when = m.data.builtAt ?? m.data.build_time;
  const builtAt = when && !Number.isNaN(Date.parse(when)) ? new Date(when) : null;
  return { marker: { name: m.data.name, version: m.data.version, builtAt }, problem: null };
}

export function parseHostFacts(stdout: string): HostFacts {
  const [head = "", ...rest] = stdout.split("--- sandboxer marker ---\n");
  const lines = head.split("\n");
  const load = Number.parseFloat((lines[0] ?? "").split(/\s+/)[0] ?? "");
  const cpus = Number.parseInt(lines[1] ?? "", 10);
  const mem = /^MemAvailable:\s+(\d+)\s*kB/.exec(lines[2] ?? "");
  const { marker, problem } = rest.length ? parseMarker(rest.join("")) : { marker: null, problem: "no image marker output" };
  return {
    loadAverage: Number.isFinite(load) ? load : null,
    cpuCount: Number.isInteger(cpus) && cpus > 0 ? cpus : null,
    freeMemoryBytes: mem ? Number(mem[1]) * 1024 : null,
    marker,
    markerProblem: problem,
  };
}
