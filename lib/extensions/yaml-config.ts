// Strict YAML config files (manifests, profiles, hosts.yaml): every problem is reported with the file,
// the field's path and, where the YAML library knows it, the line — so a typo is found in one read.
import "server-only";

import fs from "node:fs";

import { isMap, isScalar, LineCounter, parseDocument, type Document } from "yaml";
import type { z } from "zod";

import { ConfigError, hasCode } from "../errors";

export interface ConfigIssue {
  file: string;
  /** Dotted path of the field, e.g. "params.repository.ref"; "" for the whole file. */
  field: string;
  line?: number;
  message: string;
}

/** Thrown when a config file is unreadable, not YAML, or does not match its schema. */
export class ConfigFileError extends ConfigError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(issues.map(formatIssue).join("\n"), { issues });
    this.issues = issues;
  }
}

/** The issues a loader threw (a ConfigFileError's), or one issue for `file` carrying any other error's message. */
export function issuesOf(e: unknown, file: string): ConfigIssue[] {
  if (hasCode(e, "CONFIG_INVALID") && Array.isArray((e as ConfigFileError).issues)) return (e as ConfigFileError).issues;
  return [{ file, field: "", message: (e as Error).message }];
}

export function formatIssue(i: ConfigIssue): string {
  const where = i.line ? `${i.file}:${i.line}` : i.file;
  return i.field ? `${where}: ${i.field}: ${i.message}` : `${where}: ${i.message}`;
}

export interface ParsedYaml {
  file: string;
  data: unknown;
  /** Line of the node at a path, when known. */
  lineOf(path: readonly PropertyKey[]): number | undefined;
}

/** Reads and parses one YAML file; syntax errors and duplicate keys become ConfigFileError. */
export function readYamlFile(file: string, displayName = file): ParsedYaml {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigFileError([{ file: displayName, field: "", message: `cannot read: ${(e as Error).message}` }]);
  }
  return parseYamlText(text, displayName);
}

export function parseYamlText(text: string, file: string): ParsedYaml {
  const lineCounter = new LineCounter();
  // uniqueKeys: a key given twice is an error, not a silent override.
  const doc: Document = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: true });
  const errors = doc.errors.map((e) => ({
    file,
    field: "",
    line: e.linePos?.[0]?.line,
    message: yamlErrorMessage(e, text),
  }));
  if (errors.length) throw new ConfigFileError(errors);
  const lineOf = (path: readonly PropertyKey[]): number | undefined => {
    // Walk up the path until a node exists (a missing field is reported at its parent).
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n) as unknown[], true);
      if (node && typeof node === "object" && "range" in node && Array.isArray(node.range)) {
        // For a mapping value, point at the key's line when we can.
        if (n > 0) {
          const parent = n === 1 ? doc.contents : doc.getIn(path.slice(0, n - 1) as unknown[], true);
          if (isMap(parent)) {
            const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === path[n - 1]);
            const keyRange = pair && isScalar(pair.key) ? pair.key.range : undefined;
            if (keyRange) return lineCounter.linePos(keyRange[0]).line;
          }
        }
        return lineCounter.linePos((node.range as number[])[0]!).line;
      }
    }
    return undefined;
  };
  return { file, data: doc.toJS() ?? null, lineOf };
}

/**
 * The parser's message without its "at line L, column C:" tail (the issue carries the line) and, for a
 * duplicate key, naming the key: `duplicate key "version": a key may appear only once in a mapping`.
 */
function yamlErrorMessage(e: { code: string; message: string; pos: [number, number] }, text: string): string {
  if (e.code === "DUPLICATE_KEY") {
    // The error points at the start of the repeated key (its range may cover only its first character).
    const rest = text.slice(e.pos[0], e.pos[0] + 200);
    const key = (/^("(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[^:\n]*)/.exec(rest)?.[1] ?? "").trim().replace(/^["']|["']$/g, "");
    if (key) return `duplicate key ${JSON.stringify(key)}: a key may appear only once in a mapping`;
  }
  const first = e.message.split("\n")[0] ?? e.message;
  return first.replace(/\s+at line \d+, column \d+:?\s*$/, "").replace(/:\s*$/, "");
}

/** Turns zod issues into ConfigIssues with lines; `prefix` is prepended to each path. */
export function zodIssues(parsed: ParsedYaml, error: z.ZodError, prefix: readonly PropertyKey[] = []): ConfigIssue[] {
  return error.issues.flatMap((issue) => {
    const base = [...prefix, ...issue.path];
    // An unknown key is reported on the key itself, so the line points at the typo.
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => ({
        file: parsed.file,
        field: [...base, key].map(String).join("."),
        line: parsed.lineOf([...base, key]),
        message: "unknown field (check the spelling; unknown fields are not allowed)",
      }));
    }
    return [
      {
        file: parsed.file,
        field: base.map(String).join("."),
        line: parsed.lineOf(base),
        message: issue.message,
      },
    ];
  });
}
