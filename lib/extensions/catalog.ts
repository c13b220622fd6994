// The catalog: every extension manifest and profile, loaded and validated together at start-up.
// Manifests that fail stop their extension from loading; profiles that fail are kept, with their
// errors, so the dashboard can list them as unusable. `validate:config` exits non-zero on any issue.
import "server-only";

import fs from "node:fs";
import path from "node:path";

import { NotFoundError, ValidationError } from "../errors";
import type { ExtensionServices, SandboxExtension } from "./base";
import { parseManifestFile, type ExtensionManifest } from "./manifest";
import { parseProfileFile, type ProfileSpec } from "./profile";
import { applyInputs, buildInputSchema, type ProfileInput } from "./profile-inputs";
import type { ExtensionRegistry } from "./registry";
import { issuesOf, zodIssues, type ConfigIssue } from "./yaml-config";

export type AnyExtension = SandboxExtension<unknown, { extension: string }>;

export interface ProfileEntry {
  /** The id from the file, or the file name when the file has none. */
  id: string;
  source: string;
  /** Present when the file parsed; absent for unreadable or malformed files. */
  spec?: ProfileSpec;
  /** Params after the manifest's defaults and the extension's schema (valid profiles only). */
  params?: unknown;
  errors: ConfigIssue[];
}

export interface UsableProfile extends ProfileEntry {
  spec: ProfileSpec;
  params: unknown;
}

export interface Catalog {
  extensions: Map<string, AnyExtension>;
  manifests: ExtensionManifest[];
  profiles: ProfileEntry[];
  /** Every problem found, manifests and profiles. */
  issues: ConfigIssue[];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Objects merge key by key; anything else in `over` replaces what is in `base`. */
export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(base);
  for (const [k, v] of Object.entries(over)) {
    const cur = out[k];
    out[k] = isPlainObject(cur) && isPlainObject(v) ? deepMerge(cur, v) : structuredClone(v);
  }
  return out;
}

function yamlFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".yaml") || f.endsWith(".yml"))
    .sort()
    .map((f) => path.join(dir, f));
}

export function loadCatalog(opts: { configDir: string; registry: ExtensionRegistry; services: ExtensionServices }): Catalog {
  const { configDir, registry, services } = opts;
  const issues: ConfigIssue[] = [];
  const manifests: ExtensionManifest[] = [];
  const extensions = new Map<string, AnyExtension>();
  const seenIds = new Map<string, string>();

  for (const file of yamlFiles(path.join(configDir, "extensions"))) {
    const display = path.relative(configDir, file);
    let manifest: ExtensionManifest;
    try {
      manifest = parseManifestFile(file, configDir);
    } catch (e) {
      issues.push(...issuesOf(e, display));
      continue;
    }
    const dup = seenIds.get(manifest.id);
    if (dup) {
      issues.push({ file: display, field: "id", message: `duplicate extension id "${manifest.id}" (also in ${dup})` });
      continue;
    }
    seenIds.set(manifest.id, display);
    const Impl = registry.get(manifest.implementation);
    if (!Impl) {
      issues.push({
        file: display,
        field: "implementation",
        message: `unknown implementation "${manifest.implementation}" (known: ${registry.keys().join(", ")})`,
      });
      continue;
    }
    manifests.push(manifest);
    extensions.set(manifest.id, new Impl({ manifest, services }));
  }

  const profiles: ProfileEntry[] = [];
  const seenProfiles = new Map<string, string>();
  for (const file of yamlFiles(path.join(configDir, "profiles"))) {
    const display = path.relative(configDir, file);
    const fallbackId = `profile.${path.basename(file).replace(/\.ya?ml$/, "")}`;
    let parsed: ReturnType<typeof parseProfileFile>;
    try {
      parsed = parseProfileFile(file, configDir);
    } catch (e) {
      const errs = issuesOf(e, display);
      issues.push(...errs);
      profiles.push({ id: fallbackId, source: display, errors: errs });
      continue;
    }
    const { spec } = parsed;
    const entry: ProfileEntry = { id: spec.id, source: display, spec, errors: [] };
    profiles.push(entry);
    const dup = seenProfiles.get(spec.id);
    if (dup) {
      entry.errors.push({
        file: display,
        field: "id",
        line: parsed.parsed.lineOf(["id"]),
        message: `duplicate profile id "${spec.id}" (also in ${dup})`,
      });
    }
    seenProfiles.set(spec.id, display);
    const ext = extensions.get(spec.extension);
    if (!ext) {
      entry.errors.push({
        file: display,
        field: "extension",
        line: parsed.parsed.lineOf(["extension"]),
        message: seenIds.has(spec.extension)
          ? `extension "${spec.extension}" did not load (see its manifest's errors)`
          : `unknown extension "${spec.extension}" (known: ${[...extensions.keys()].join(", ") || "none"})`,
      });
    } else {
      // Validate with each input's default applied, as a create without inputs would.
      const merged = applyInputs(deepMerge(ext.manifest.defaults, spec.rawParams), spec.inputs, {});
      const result = ext.paramsSchema.safeParse(merged);
      if (result.success) entry.params = result.data;
      else entry.errors.push(...zodIssues(parsed.parsed, result.error, ["params"]));
    }
    issues.push(...entry.errors);
  }
  return { extensions, manifests, profiles, issues };
}

export function isUsable(p: ProfileEntry): p is UsableProfile {
  return p.errors.length === 0 && p.spec !== undefined && p.params !== undefined;
}

/**
 * Resolves a profile and a person's inputs into validated params. Throws NotFoundError for an unknown
 * profile, ValidationError (naming the input or param) for bad input or an unusable profile.
 */
export function resolveProfileParams(
  catalog: Catalog,
  profileId: string,
  rawInput: unknown,
): { profile: UsableProfile; extension: AnyExtension; params: unknown; input: ProfileInput } {
  const entry = catalog.profiles.find((p) => p.id === profileId);
  if (!entry) throw new NotFoundError("Profile", profileId);
  if (!isUsable(entry)) {
    throw new ValidationError(`Profile "${profileId}" is invalid and cannot be used: ${entry.errors[0]?.message ?? "see its errors"}`, {
      profileId: entry.errors.map((e) => `${e.field || "(file)"}: ${e.message}`),
    });
  }
  const extension = catalog.extensions.get(entry.spec.extension)!;
  const inputResult = buildInputSchema(entry.spec.inputs).safeParse(rawInput ?? {});
  if (!inputResult.success) {
    const fieldErrors: Record<string, string[]> = Object.create(null) as Record<string, string[]>; // keys come from input ("constructor", "__proto__")
    for (const issue of inputResult.error.issues) {
      if (issue.code === "unrecognized_keys") {
        for (const k of issue.keys) (fieldErrors[k] ??= []).push(`"${k}" is not an input of ${profileId}`);
        continue;
      }
      const key = String(issue.path[0] ?? "input");
      (fieldErrors[key] ??= []).push(issue.message);
    }
    throw new ValidationError("Some inputs are not valid", fieldErrors);
  }
  const input = inputResult.data as ProfileInput;
  const merged = applyInputs(deepMerge(extension.manifest.defaults, entry.spec.rawParams), entry.spec.inputs, input);
  const result = extension.paramsSchema.safeParse(merged);
  if (!result.success) {
    const fieldErrors: Record<string, string[]> = Object.create(null) as Record<string, string[]>; // keys come from input ("constructor", "__proto__")
    for (const issue of result.error.issues) {
      const paramPath = issue.path.map(String).join(".");
      const owner = entry.spec.inputs.find((i) => paramPath === i.param || paramPath.startsWith(`${i.param}.`));
      (fieldErrors[owner?.name ?? `params.${paramPath}`] ??= []).push(issue.message);
    }
    throw new ValidationError("Some inputs are not valid for this profile", fieldErrors);
  }
  return { profile: entry, extension, params: result.data, input };
}
