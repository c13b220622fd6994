// The SDK guide's worked example (docs/examples/ext-notes) is real code: its manifest and profile load
// through the catalog, it passes the conformance suite, and the manager creates and destroys a sandbox
// of its profile on both databases.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";

import { NotesExtension, type NotesHandle } from "@/docs/examples/ext-notes/extension";
import { loadCatalog } from "@/lib/extensions/catalog";
import { createRegistry } from "@/lib/extensions/registry";
import { describeConformance } from "@/lib/extensions/testing/conformance";
import { newSandboxId } from "@/lib/sandbox-id";

import { PROVIDERS } from "../support/databases";
import { createTestManager, type TestManager } from "../support/manager-harness";

const EXAMPLE_DIR = path.resolve("docs/examples/ext-notes");
const MANIFEST_FILE = path.join(EXAMPLE_DIR, "ext.notes.yaml");
const PROFILE_FILE = path.join(EXAMPLE_DIR, "notes.yaml");

/** A config dir holding the example's files where the catalog looks for them, as a deployment would. */
function loadExampleCatalog(tmp: string) {
  const configDir = path.join(tmp, "config");
  fs.mkdirSync(path.join(configDir, "extensions"), { recursive: true });
  fs.mkdirSync(path.join(configDir, "profiles"), { recursive: true });
  fs.copyFileSync(MANIFEST_FILE, path.join(configDir, "extensions", "ext.notes.yaml"));
  fs.copyFileSync(PROFILE_FILE, path.join(configDir, "profiles", "notes.yaml"));
  return loadCatalog({
    configDir,
    registry: createRegistry({ extra: { notes: NotesExtension } }),
    services: { localWorkspaceRoot: path.join(tmp, "workspaces") },
  });
}

async function fileExists(file: string): Promise<boolean> {
  try {
    await fs.promises.lstat(file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
}

describe("the ext.notes example", () => {
  it("load through the catalog without issues, with the manifest's default title", () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "example-catalog-"));
    try {
      const catalog = loadExampleCatalog(tmp);
      expect(catalog.issues).toEqual([]);
      expect(catalog.extensions.get("ext.notes")).toBeInstanceOf(NotesExtension);
      const profile = catalog.profiles.find((p) => p.id === "profile.notes");
      expect(profile?.errors).toEqual([]);
      expect(profile?.params).toEqual({ title: "Untitled notes" });
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it("a create on an unusable root fails with NOTES_FILE naming the file, and its handle destroys as absent", async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "example-errors-"));
    try {
      const extension = loadExampleCatalog(tmp).extensions.get("ext.notes") as NotesExtension;
      fs.writeFileSync(path.join(tmp, "a-file"), "");
      const root = path.join(tmp, "a-file", "notes");
      const id = newSandboxId();
      const ctx = { sandboxId: id, signal: new AbortController().signal, log: () => {} };
      const recorded: NotesHandle[] = [];
      const err = await extension
        .create({ ...ctx, params: { root, title: "t" }, host: null, recordHandle: async (h) => void recorded.push({ ...h }) })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({
        code: "NOTES_FILE",
        name: "NotesFileError",
        message: expect.stringContaining(`could not write ${root}/sbx-${id}.json`),
      });
      expect(recorded).toEqual([{ extension: "ext.notes", file: `${root}/sbx-${id}.json` }]);
      await expect(extension.destroy(recorded[0]!, ctx)).resolves.toMatchObject({ result: "absent" });
      await expect(extension.status(recorded[0]!, ctx)).resolves.toMatchObject({ state: "missing" });
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describeConformance(
  "ext.notes (docs/examples/ext-notes)",
  async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "conformance-notes-"));
    const catalog = loadExampleCatalog(tmp); // loadCatalog on a temp config dir holding the YAML files
    const extension = catalog.extensions.get("ext.notes");
    const params = catalog.profiles.find((p) => p.id === "profile.notes")?.params;
    if (!(extension instanceof NotesExtension) || !params) throw new Error(`the example did not load: ${JSON.stringify(catalog.issues)}`);
    const blocker = path.join(tmp, "a-file");
    fs.writeFileSync(blocker, "");
    return {
      extension,
      params: params as Record<string, unknown>,
      exists: (h: NotesHandle) => fileExists(h.file),
      teardownNames: (h: NotesHandle) => [h.file],
      async verifyCreated(h: NotesHandle) {
        expect(path.dirname(h.file)).toBe(path.join(tmp, "workspaces", "notes"));
        expect(JSON.parse(fs.readFileSync(h.file, "utf8"))).toEqual({ title: "Untitled notes", notes: [] });
      },
      // A root below a regular file can never be created.
      makeUnmet: (p) => ({ ...p, root: path.join(blocker, "notes") }),
      cleanup: async () => fs.rmSync(tmp, { recursive: true, force: true }),
    };
  },
  { unmet: true },
);

describe.each(PROVIDERS)("the ext.notes example through the manager on %s", (provider) => {
  let t: TestManager;

  beforeAll(async () => {
    t = await createTestManager(provider, {
      extra: { notes: NotesExtension },
      manifests: [parse(fs.readFileSync(MANIFEST_FILE, "utf8")) as Record<string, unknown>],
      profiles: { notes: parse(fs.readFileSync(PROFILE_FILE, "utf8")) as Record<string, unknown> },
    });
  });
  afterAll(async () => t?.close());

  it("creates a notes file with the person's title, and destroy removes exactly that file", async () => {
    expect(t.manager.catalog.issues).toEqual([]);
    const worker = t.newWorker();
    const created = await t.manager.createSandbox("profile.notes", t.user, { title: "Incident 42" });
    await worker.runUntilIdle();

    const ready = await t.manager.getSandboxDetail(created.id);
    expect(ready.status).toBe("ready");
    const file = path.join(t.configDir, "workspaces", "notes", `sbx-${created.id}.json`);
    expect(ready.handle?.workspacePath).toBe(file);
    expect(ready.handle?.teardown).toEqual([`file ${file} on this server`]);
    expect(JSON.parse(fs.readFileSync(file, "utf8"))).toEqual({ title: "Incident 42", notes: [] });
    const neighbour = path.join(path.dirname(file), "keep.json");
    fs.writeFileSync(neighbour, "{}");

    await t.manager.destroySandbox(created.id, t.user);
    await worker.runUntilIdle();
    expect((await t.manager.getSandbox(created.id)).status).toBe("destroyed");
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.existsSync(neighbour)).toBe(true);
    const log = (await t.manager.sandboxEvents(created.id)).map((e) => e.message);
    expect(log).toEqual(expect.arrayContaining([`Writing ${file}`, `Removing ${file}`, `removed ${file}`]));
    const audit = await t.db.event.findFirstOrThrow({ where: { type: "audit", action: "sandbox.teardown", target: created.id } });
    expect(audit.result).toBe("ok");
    expect(audit.data).toEqual({ teardown: [`file ${file} on this server`] });
  });
});
