import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { loadCatalog, resolveProfileParams } from "./catalog";
import { FakeExtension } from "./fake/extension";
import { createRegistry } from "./registry";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function configDir(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "catalog-test-"));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

const FAKE = `apiVersion: sandboxer.dev/v1
id: ext.fake
title: Fake
implementation: fake
version: 1.0.0
defaults:
  steps: 3
`;

const load = (dir: string) =>
  loadCatalog({
    configDir: dir,
    registry: createRegistry({ extra: { fake: FakeExtension } }),
    services: { localWorkspaceRoot: path.join(dir, "ws") },
  });

describe("manifests", () => {
  it("load the repository's own manifests and profiles without issues", () => {
    const catalog = loadCatalog({ configDir: process.cwd(), registry: createRegistry(), services: { localWorkspaceRoot: "/tmp/ws" } });
    expect(catalog.issues).toEqual([]);
    expect(catalog.extensions.has("ext.local")).toBe(true);
    expect(catalog.profiles.find((p) => p.id === "profile.local")?.errors).toEqual([]);
  });

  it("report an unknown key with file, line and field", () => {
    const dir = configDir({ "extensions/ext.fake.yaml": FAKE.replace("title: Fake", "title: Fake\ntitel: typo") });
    const { issues, extensions } = load(dir);
    expect(extensions.size).toBe(0);
    expect(issues).toEqual([
      { file: "extensions/ext.fake.yaml", field: "titel", line: 4, message: expect.stringContaining("unknown field") },
    ]);
  });

  it("report a wrong type and a bad version naming the field", () => {
    const dir = configDir({
      "extensions/ext.fake.yaml": FAKE.replace("version: 1.0.0", "version: one").replace("title: Fake", "title: [1, 2]"),
    });
    const fields = load(dir).issues.map((i) => `${i.field}@${i.line}`);
    expect(fields).toEqual(expect.arrayContaining(["title@3", "version@5"]));
  });

  it("refuse an unknown implementation key, listing the known ones", () => {
    const dir = configDir({ "extensions/ext.fake.yaml": FAKE.replace("implementation: fake", "implementation: qemu") });
    const [issue] = load(dir).issues;
    expect(issue).toMatchObject({ field: "implementation", message: expect.stringContaining('unknown implementation "qemu"') });
    expect(issue?.message).toContain("local");
  });

  it("refuse duplicate ids, naming both files", () => {
    const dir = configDir({ "extensions/ext.fake.yaml": FAKE, "extensions/ext.fake.yml": FAKE });
    const { issues, extensions } = load(dir);
    // Files load in name order, so the .yml file is the duplicate and names the .yaml one.
    expect(issues).toEqual([
      {
        file: "extensions/ext.fake.yml",
        field: "id",
        message: expect.stringMatching(/^duplicate extension id "ext\.fake" \(also in extensions\/ext\.fake\.yaml\)$/),
      },
    ]);
    expect([...extensions.keys()]).toEqual(["ext.fake"]);
  });

  it("report YAML syntax errors and duplicate keys with a line", () => {
    const dupKey = configDir({ "extensions/ext.fake.yaml": FAKE.replace("version: 1.0.0", "version: 1.0.0\nversion: 2.0.0") });
    const dupResult = load(dupKey);
    expect(dupResult.extensions.size).toBe(0);
    expect(dupResult.issues).toEqual([
      { file: "extensions/ext.fake.yaml", field: "", line: 6, message: 'duplicate key "version": a key may appear only once in a mapping' },
    ]);

    // An unclosed flow sequence on line 3: the parser notices where the next key starts (line 4).
    const syntax = configDir({ "extensions/ext.fake.yaml": FAKE.replace("title: Fake", "title: [unclosed") });
    const syntaxResult = load(syntax);
    expect(syntaxResult.extensions.size).toBe(0);
    expect(syntaxResult.issues).toEqual([
      { file: "extensions/ext.fake.yaml", field: "", line: 4, message: expect.stringContaining("end with a ]") },
    ]);
    expect(syntaxResult.issues[0]!.message).not.toMatch(/[:\s]$/); // no dangling colon
  });

  it("require the file to be named after the id", () => {
    const dir = configDir({ "extensions/ext.other.yaml": FAKE });
    expect(load(dir).issues[0]).toMatchObject({ field: "id", message: expect.stringContaining("ext.fake.yaml") });
  });
});

describe("profiles", () => {
  const profile = (body: string) => `apiVersion: sandboxer.dev/v1
id: profile.p
title: P
extension: ext.fake
ttl: 8h
${body}`;

  it("parse a warm pool with its defaults, and name the field of a bad one", () => {
    const ok = load(configDir({ "extensions/ext.fake.yaml": FAKE, "profiles/p.yaml": profile("pool:\n  size: 3\n") }));
    expect(ok.issues).toEqual([]);
    expect(ok.profiles[0]?.spec?.pool).toEqual({ size: 3, refillConcurrency: 2, maxAge: "1d", maxAgeMs: 86_400_000 });
    const cases: [string, string, number][] = [
      ["pool:\n  size: 0\n", "pool.size", 7],
      ["pool:\n  size: 2.5\n", "pool.size", 7],
      ["pool:\n  size: 2\n  maxAge: soon\n", "pool.maxAge", 8],
      ["pool:\n  size: 2\n  refillConcurrency: 0\n", "pool.refillConcurrency", 8],
      ["pool:\n  size: 2\n  sise: 3\n", "pool.sise", 8],
      ["pool: 4\n", "pool", 6],
    ];
    for (const [body, field, line] of cases) {
      const errs = load(configDir({ "extensions/ext.fake.yaml": FAKE, "profiles/p.yaml": profile(body) })).profiles[0]!.errors;
      expect(
        errs.map((e) => [e.field, e.line]),
        body,
      ).toContainEqual([field, line]);
    }
  });

  it("validate params with the extension's schema after merging the manifest's defaults", () => {
    const dir = configDir({ "extensions/ext.fake.yaml": FAKE, "profiles/p.yaml": profile("params:\n  stepMs: 5\n") });
    const catalog = load(dir);
    expect(catalog.issues).toEqual([]);
    expect(catalog.profiles[0]?.params).toMatchObject({ steps: 3, stepMs: 5 });
  });

  it("keep an invalid profile listed with its errors, naming param and line", () => {
    const dir = configDir({
      "extensions/ext.fake.yaml": FAKE,
      "profiles/p.yaml": profile("params:\n  stepMs: -1\n  stepz: 2\n"),
    });
    const catalog = load(dir);
    expect(catalog.profiles).toHaveLength(1);
    const errs = catalog.profiles[0]!.errors;
    expect(errs.map((e) => [e.field, e.line])).toEqual(
      expect.arrayContaining([
        ["params.stepMs", 7],
        ["params.stepz", 8],
      ]),
    );
    expect(() => resolveProfileParams(catalog, "profile.p", {})).toThrow(/invalid and cannot be used/);
  });

  it("report an unknown extension and a bad ttl", () => {
    const dir = configDir({
      "extensions/ext.fake.yaml": FAKE,
      "profiles/p.yaml": profile("").replace("ext.fake", "ext.nope").replace("ttl: 8h", "ttl: forever"),
    });
    const errs = load(dir).profiles[0]!.errors;
    expect(errs.map((e) => e.field)).toContain("ttl");
    const dir2 = configDir({ "extensions/ext.fake.yaml": FAKE, "profiles/p.yaml": profile("").replace("ext.fake", "ext.nope") });
    expect(load(dir2).profiles[0]!.errors[0]).toMatchObject({
      field: "extension",
      line: 4,
      message: expect.stringContaining('unknown extension "ext.nope"'),
    });
  });

  it("validate inputs with the same schema the form uses, and apply them at their param path", () => {
    const dir = configDir({
      "extensions/ext.fake.yaml": FAKE,
      "profiles/p.yaml": profile(`inputs:
  ref:
    title: Git ref
    param: ref
    default: main
    pattern: "[a-z0-9-]+"
`),
    });
    const catalog = load(dir);
    expect(resolveProfileParams(catalog, "profile.p", { ref: "feature-x" }).params).toMatchObject({ ref: "feature-x" });
    expect(resolveProfileParams(catalog, "profile.p", {}).params).toMatchObject({ ref: "main" });
    expect(() => resolveProfileParams(catalog, "profile.p", { ref: "x; rm -rf /" })).toThrow(
      expect.objectContaining({ fieldErrors: { ref: [expect.stringContaining("Git ref")] } }),
    );
    expect(() => resolveProfileParams(catalog, "profile.p", { other: "x" })).toThrow(
      expect.objectContaining({ fieldErrors: { other: [expect.any(String)] } }),
    );
  });

  it("name inputs called constructor, __proto__ or toString as unknown inputs (not a 500)", () => {
    const dir = configDir({
      "extensions/ext.fake.yaml": FAKE,
      "profiles/p.yaml": profile(`inputs:
  ref:
    title: Git ref
    param: ref
`),
    });
    const catalog = load(dir);
    for (const key of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
      const input = JSON.parse(`{"${key}": "x"}`) as unknown;
      let thrown: unknown;
      try {
        resolveProfileParams(catalog, "profile.p", input);
      } catch (e) {
        thrown = e;
      }
      expect(thrown, key).toMatchObject({ code: "VALIDATION_FAILED" });
      expect(Object.entries((thrown as { fieldErrors: Record<string, string[]> }).fieldErrors), key).toEqual([
        [key, [`"${key}" is not an input of profile.p`]],
      ]);
    }
  });
});
