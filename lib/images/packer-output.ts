// Packer's `-machine-readable` output: one CSV line per message, `timestamp,target,type,data…`,
// where commas inside data are written `%!(PACKER_COMMA)` and newlines `\n` (literally). We turn
// it into log lines for people (bounded, control characters removed), artifact ids and errors.

export interface PackerEvent {
  kind: "log" | "artifact" | "error-count" | "other";
  level: "info" | "warn" | "error";
  message: string;
  artifactId?: string;
  errorCount?: number;
}

const MAX_LINE = 2000;

/** Text from a remote program, made safe for a page or a terminal: no control characters, bounded. */
export function cleanText(s: string): string {
  const t = s.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, "").replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "");
  return t.length > MAX_LINE ? `${t.slice(0, MAX_LINE)}…` : t;
}

function unescape(s: string): string {
  return s.replaceAll("%!(PACKER_COMMA)", ",").replaceAll("\\n", "\n").replaceAll("\\r", "");
}

export function parsePackerLine(line: string): PackerEvent | null {
  const parts = line.split(",");
  if (parts.length < 3 || !/^\d+$/.test(parts[0] ?? "")) {
    const text = cleanText(line.trim());
    return text ? { kind: "log", level: "info", message: text } : null;
  }
  const [, target = "", type = "", ...data] = parts;
  const fields = data.map(unescape);
  if (type === "ui") {
    const [uiType = "", ...rest] = fields;
    const text = cleanText(rest.join(",").trim());
    if (!text) return null;
    const level = uiType === "error" ? "error" : uiType === "say" || uiType === "message" ? "info" : "info";
    return { kind: "log", level, message: text };
  }
  if (type === "artifact" && fields[1] === "id") {
    const id = cleanText(fields.slice(2).join(","));
    return { kind: "artifact", level: "info", message: `Artifact of ${target || "build"}: ${id}`, artifactId: id };
  }
  if (type === "error-count") {
    const n = Number(fields[0]);
    return { kind: "error-count", level: n > 0 ? "error" : "info", message: `${n} build error${n === 1 ? "" : "s"}`, errorCount: n };
  }
  return { kind: "other", level: "info", message: cleanText(`${type} ${fields.join(" ")}`.trim()) };
}

/** Artifact ids from the manifest post-processor's file (`builds[].artifact_id`). */
export function manifestArtifacts(json: unknown): { artifacts: string[]; runUuid: string | null } {
  const j = json as { builds?: { artifact_id?: unknown }[]; last_run_uuid?: unknown };
  const artifacts = (Array.isArray(j?.builds) ? j.builds : [])
    .map((b) => (typeof b?.artifact_id === "string" ? cleanText(b.artifact_id) : ""))
    .filter(Boolean);
  return { artifacts, runUuid: typeof j?.last_run_uuid === "string" ? j.last_run_uuid : null };
}
