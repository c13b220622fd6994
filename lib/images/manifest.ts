// Image manifests: images/<name>.yaml. Each names a Packer template (images/<name>.pkr.hcl by
// default), the variables sand-boxer passes to it, and how long a build may take. Parsed strictly,
// like profiles (file, line and field in every error). See docs/images.md.
import fs from "node:fs";
import path from "node:path";

import { z } from "zod";

import { parseDuration } from "../duration";
import { API_VERSION } from "../extensions/manifest";
import { ConfigFileError, issuesOf, readYamlFile, zodIssues, type ConfigIssue } from "../extensions/yaml-config";

export const IMAGE_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** Variables sand-boxer always passes; a template must declare them, a manifest may not set them. */
export const RESERVED_VARIABLES = [
  "image_name",
  "image_version",
  "marker_path",
  "ssh_host",
  "ssh_port",
  "ssh_username",
  "ssh_private_key_file",
] as const;

const imageManifestSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION, { error: `must be "${API_VERSION}"` }),
  name: z.string().regex(IMAGE_NAME_PATTERN, { error: "lowercase letters, digits, dots, dashes and underscores" }),
  title: z.string().min(1).max(80).optional(),
  description: z.string().max(2000).default(""),
  template: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*\.pkr\.hcl$/, { error: 'a file name in images/ ending in ".pkr.hcl"' })
    .optional(),
  variables: z
    .record(
      z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, { error: "variable names are lowercase words with underscores" }),
      z.union([z.string().max(1000), z.number(), z.boolean()]),
    )
    .default({}),
  /** Where a built VM keeps its marker when the host does not say (hosts have their own setting). */
  markerPath: z
    .string()
    .regex(/^\/[A-Za-z0-9._/-]+$/, { error: "an absolute file path" })
    .default("/etc/sandboxer-image.json"),
  timeout: z
    .string()
    .refine(
      (v) => {
        try {
          return parseDuration(v) > 0;
        } catch {
          return false;
        }
      },
      { error: "a duration such as 30m or 2h" },
    )
    .default("1h"),
});

export interface ImageManifest {
  name: string;
  title: string;
  description: string;
  /** Absolute path of the template. */
  templatePath: string;
  /** As written (relative to images/). */
  template: string;
  variables: Record<string, string>;
  markerPath: string;
  timeoutMs: number;
  source: string;
}

export interface ImageCatalog {
  images: ImageManifest[];
  issues: ConfigIssue[];
}

function parseImageFile(file: string, configDir: string): ImageManifest {
  const display = path.relative(configDir, file) || file;
  const parsed = readYamlFile(file, display);
  const r = imageManifestSchema.safeParse(parsed.data);
  if (!r.success) throw new ConfigFileError(zodIssues(parsed, r.error));
  const m = r.data;
  const issues: ConfigIssue[] = [];
  if (![`${m.name}.yaml`, `${m.name}.yml`].includes(path.basename(file)))
    issues.push({
      file: display,
      field: "name",
      line: parsed.lineOf(["name"]),
      message: `the file of image "${m.name}" must be named ${m.name}.yaml`,
    });
  for (const k of Object.keys(m.variables)) {
    if ((RESERVED_VARIABLES as readonly string[]).includes(k))
      issues.push({
        file: display,
        field: `variables.${k}`,
        line: parsed.lineOf(["variables", k]),
        message: `"${k}" is set by sand-boxer for every build and cannot be given here`,
      });
  }
  const template = m.template ?? `${m.name}.pkr.hcl`;
  const templatePath = path.join(path.dirname(file), template);
  if (!fs.existsSync(templatePath))
    issues.push({
      file: display,
      field: "template",
      line: parsed.lineOf(["template"]),
      message: `the template ${path.relative(configDir, templatePath)} does not exist`,
    });
  if (issues.length) throw new ConfigFileError(issues);
  return {
    name: m.name,
    title: m.title ?? m.name,
    description: m.description,
    template,
    templatePath,
    variables: Object.fromEntries(Object.entries(m.variables).map(([k, v]) => [k, String(v)])),
    markerPath: m.markerPath,
    timeoutMs: parseDuration(m.timeout),
    source: display,
  };
}

/** Every images/*.yaml under the config directory; invalid files are reported, not loaded. */
export function loadImages(configDir: string): ImageCatalog {
  const dir = path.join(configDir, "images");
  const out: ImageCatalog = { images: [], issues: [] };
  if (!fs.existsSync(dir)) return out;
  for (const f of fs.readdirSync(dir).sort()) {
    if (!f.endsWith(".yaml") && !f.endsWith(".yml")) continue;
    const file = path.join(dir, f);
    try {
      out.images.push(parseImageFile(file, configDir));
    } catch (e) {
      out.issues.push(...issuesOf(e, path.relative(configDir, file)));
    }
  }
  return out;
}
