// Profiles: profiles/<name>.yaml. A profile is what a person picks: an extension, the params it runs
// with, the inputs a person may set, a time to live and a runbook. An invalid profile never stops the
// app: it is listed with its errors and cannot be used.
import "server-only";

import path from "node:path";

import { z } from "zod";

import { parseDuration } from "../duration";
import { API_VERSION, EXTENSION_ID_PATTERN } from "./manifest";
import { INPUT_NAME_PATTERN, type ProfileInputSpec } from "./profile-inputs";
import { ConfigFileError, readYamlFile, zodIssues, type ConfigIssue, type ParsedYaml } from "./yaml-config";

export const PROFILE_ID_PATTERN = /^profile\.[a-z0-9][a-z0-9-]*$/;

const durationString = z.string().refine(
  (v) => {
    try {
      return parseDuration(v) > 0;
    } catch {
      return false;
    }
  },
  { error: "must be a duration such as 30m, 8h or 2d" },
);

const inputSpecSchema = z.strictObject({
  title: z.string().min(1).max(80),
  description: z.string().max(500).default(""),
  param: z.string().regex(/^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$/, { error: 'must be a dotted path into params, e.g. "repository.ref"' }),
  default: z.string().optional(),
  required: z.boolean().default(false),
  pattern: z
    .string()
    .refine(
      (p) => {
        try {
          new RegExp(p);
          return true;
        } catch {
          return false;
        }
      },
      { error: "must be a valid regular expression" },
    )
    .optional(),
  maxLength: z.number().int().min(1).max(2000).default(200),
  placeholder: z.string().max(200).optional(),
});

/** A warm pool: sandboxes made ahead of time from the profile's defaults (lib/manager/pools.ts). */
export const poolSpecSchema = z.strictObject(
  {
    size: z.number({ error: "must be a whole number of sandboxes" }).int({ error: "must be a whole number" }).min(1).max(200),
    refillConcurrency: z
      .number({ error: "must be a whole number of sandboxes" })
      .int({ error: "must be a whole number" })
      .min(1)
      .max(32)
      .default(2),
    maxAge: durationString.default("1d"),
  },
  { error: "must be an object { size, refillConcurrency, maxAge }" },
);

/** The image a profile's hosts must run (docs/images.md): a fixed version, or whatever a channel points at. */
export const imageRequirementSchema = z
  .strictObject(
    {
      name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, { error: "an image name (images/<name>.yaml)" }),
      version: z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,62}$/, { error: "a version, e.g. 7" })
        .optional(),
      channel: z
        .string()
        .regex(/^[a-z0-9][a-z0-9-]{0,30}$/, { error: "a channel, e.g. stable" })
        .optional(),
    },
    { error: "must be an object { name, version } or { name, channel }" },
  )
  .refine((i) => (i.version === undefined) !== (i.channel === undefined), { error: "give exactly one of version and channel" });

export type ImageRequirement = z.output<typeof imageRequirementSchema>;

export const profileSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION, { error: `must be "${API_VERSION}"` }),
  id: z.string().regex(PROFILE_ID_PATTERN, { error: 'must look like "profile.<name>" (lowercase letters, digits, dashes)' }),
  title: z.string().min(1).max(80),
  description: z.string().max(2000).default(""),
  extension: z.string().regex(EXTENSION_ID_PATTERN, { error: 'must name an extension, e.g. "ext.local"' }),
  params: z.record(z.string(), z.unknown()).default({}),
  inputs: z
    .record(z.string().regex(INPUT_NAME_PATTERN, { error: "input names are camelCase letters and digits" }), inputSpecSchema)
    .default({}),
  ttl: durationString,
  maxTtl: durationString.optional(),
  runbook: z.string().max(500).optional(),
  tags: z
    .array(z.string().regex(/^[a-z0-9][a-z0-9-]{0,30}$/, { error: "tags are lowercase words" }))
    .max(20)
    .default([]),
  pool: poolSpecSchema.optional(),
  image: imageRequirementSchema.optional(),
});

export interface ProfileSpec {
  id: string;
  title: string;
  description: string;
  extension: string;
  /** Params as written in the file (before the manifest's defaults and the extension's schema). */
  rawParams: Record<string, unknown>;
  inputs: ProfileInputSpec[];
  ttlMs: number;
  maxTtlMs: number;
  ttl: string;
  maxTtl: string;
  runbook?: string;
  tags: string[];
  source: string;
  /** The warm pool, when the profile declares one. */
  pool?: PoolSpec;
  /** The image its hosts must run, when it requires one. */
  image?: ImageRequirement;
}

export interface PoolSpec {
  /** Members kept ready. */
  size: number;
  /** Members of this profile being created at once, at most. */
  refillConcurrency: number;
  maxAge: string;
  /** A member older than this is recycled. */
  maxAgeMs: number;
}

const DEFAULT_MAX_TTL = "3d";

/** Parses one profile file (schema only; the catalog then validates params against the extension). */
export function parseProfileFile(file: string, configDir: string): { spec: ProfileSpec; parsed: ParsedYaml } {
  const display = path.relative(configDir, file) || file;
  return parseProfile(readYamlFile(file, display));
}

export function parseProfile(parsed: ParsedYaml): { spec: ProfileSpec; parsed: ParsedYaml } {
  const result = profileSchema.safeParse(parsed.data);
  if (!result.success) throw new ConfigFileError(zodIssues(parsed, result.error));
  const p = result.data;
  const issues: ConfigIssue[] = [];
  const name = p.id.slice("profile.".length);
  if (![`${name}.yaml`, `${name}.yml`].includes(path.basename(parsed.file))) {
    issues.push({
      file: parsed.file,
      field: "id",
      line: parsed.lineOf(["id"]),
      message: `the file of "${p.id}" must be named ${name}.yaml`,
    });
  }
  const ttlMs = parseDuration(p.ttl);
  const maxTtl = p.maxTtl ?? (parseDuration(DEFAULT_MAX_TTL) >= ttlMs ? DEFAULT_MAX_TTL : p.ttl);
  const maxTtlMs = parseDuration(maxTtl);
  if (maxTtlMs < ttlMs) {
    issues.push({ file: parsed.file, field: "maxTtl", line: parsed.lineOf(["maxTtl"]), message: `must be at least ttl (${p.ttl})` });
  }
  for (const [inputName, input] of Object.entries(p.inputs)) {
    if (input.default !== undefined && input.pattern && !new RegExp(`^(?:${input.pattern})$`).test(input.default)) {
      issues.push({
        file: parsed.file,
        field: `inputs.${inputName}.default`,
        line: parsed.lineOf(["inputs", inputName, "default"]),
        message: "does not match the input's pattern",
      });
    }
  }
  if (issues.length) throw new ConfigFileError(issues);
  return {
    parsed,
    spec: {
      id: p.id,
      title: p.title,
      description: p.description,
      extension: p.extension,
      rawParams: p.params,
      inputs: Object.entries(p.inputs).map(([inputName, i]) => ({ name: inputName, ...i })),
      ttlMs,
      maxTtlMs,
      ttl: p.ttl,
      maxTtl,
      runbook: p.runbook,
      tags: p.tags,
      source: parsed.file,
      ...(p.image ? { image: p.image } : {}),
      ...(p.pool
        ? {
            pool: {
              size: p.pool.size,
              refillConcurrency: p.pool.refillConcurrency,
              maxAge: p.pool.maxAge,
              maxAgeMs: parseDuration(p.pool.maxAge),
            },
          }
        : {}),
    },
  };
}
