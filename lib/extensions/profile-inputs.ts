// The inputs a profile lets a person set when creating a sandbox (e.g. a git ref). Shared by the
// browser form and the server: both build the SAME zod schema from the profile's input specs, so a
// field error shows inline before submit and the server refuses the same input. No server-only here.
import { z } from "zod";

export const INPUT_NAME_PATTERN = /^[a-z][a-zA-Z0-9_]{0,39}$/;

export interface ProfileInputSpec {
  name: string;
  title: string;
  description: string;
  /** Dotted path into the profile's params that the value replaces, e.g. "repository.ref". */
  param: string;
  default?: string;
  required: boolean;
  /** A regular expression the whole value must match. */
  pattern?: string;
  maxLength: number;
  placeholder?: string;
}

/** The zod schema for a profile's inputs: unknown inputs are refused, empty optional ones dropped. */
export function buildInputSchema(specs: readonly ProfileInputSpec[]) {
  const shape: Record<string, z.ZodType<string | undefined>> = {};
  for (const spec of specs) {
    let field = z
      .string({ error: `${spec.title} must be text` })
      .trim()
      .max(spec.maxLength, { error: `${spec.title} is at most ${spec.maxLength} characters` });
    if (spec.pattern) {
      const re = new RegExp(`^(?:${spec.pattern})$`);
      field = field.refine((v) => v === "" || re.test(v), {
        error: `${spec.title} has characters or a form that is not allowed`,
      }) as unknown as typeof field;
    }
    shape[spec.name] = spec.required
      ? field.min(1, { error: `${spec.title} is required` })
      : field.optional().transform((v) => (v === "" ? undefined : v));
  }
  return z.strictObject(shape);
}

export type ProfileInput = Record<string, string | undefined>;

/** Returns a copy of params with each given input written at its `param` path. */
export function applyInputs(
  params: Record<string, unknown>,
  specs: readonly ProfileInputSpec[],
  input: ProfileInput,
): Record<string, unknown> {
  const out = structuredClone(params);
  for (const spec of specs) {
    const value = input[spec.name] ?? spec.default;
    if (value === undefined) continue;
    const keys = spec.param.split(".");
    let node: Record<string, unknown> = out;
    for (const key of keys.slice(0, -1)) {
      const next = node[key];
      if (next === null || typeof next !== "object" || Array.isArray(next)) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[keys.at(-1)!] = value;
  }
  return out;
}
