// Extension manifests: extensions/<id>.yaml. They name an extension, say which built-in class
// implements it, and give defaults for its params. Parsed strictly (unknown keys are errors).
import "server-only";

import path from "node:path";

import { z } from "zod";

import { ConfigFileError, readYamlFile, zodIssues, type ConfigIssue, type ParsedYaml } from "./yaml-config";

export const API_VERSION = "sandboxer.dev/v1";

export const EXTENSION_ID_PATTERN = /^ext\.[a-z0-9][a-z0-9-]*$/;

export const manifestSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION, { error: `must be "${API_VERSION}"` }),
  id: z.string().regex(EXTENSION_ID_PATTERN, { error: 'must look like "ext.<name>" (lowercase letters, digits, dashes)' }),
  title: z.string().min(1).max(80),
  description: z.string().max(2000).default(""),
  implementation: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, { error: "must be the key of a built-in implementation, e.g. local" }),
  version: z.string().regex(/^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/, { error: "must be a semantic version, e.g. 1.0.0" }),
  defaults: z.record(z.string(), z.unknown()).default({}),
});

export type ExtensionManifest = z.infer<typeof manifestSchema> & {
  /** The file it was read from, relative to the config directory. */
  source: string;
};

/** Parses one manifest file. Throws ConfigFileError naming file, field and line. */
export function parseManifestFile(file: string, configDir: string): ExtensionManifest {
  const display = path.relative(configDir, file) || file;
  const parsed = readYamlFile(file, display);
  return parseManifest(parsed);
}

export function parseManifest(parsed: ParsedYaml): ExtensionManifest {
  const result = manifestSchema.safeParse(parsed.data);
  if (!result.success) throw new ConfigFileError(zodIssues(parsed, result.error));
  const issues: ConfigIssue[] = [];
  const expected = `${result.data.id}.yaml`;
  if (![expected, `${result.data.id}.yml`].includes(path.basename(parsed.file))) {
    issues.push({
      file: parsed.file,
      field: "id",
      line: parsed.lineOf(["id"]),
      message: `the file of extension "${result.data.id}" must be named ${expected}`,
    });
  }
  if (issues.length) throw new ConfigFileError(issues);
  return { ...result.data, source: parsed.file };
}
