// ext.local's teardown guard on a real file system: destroy (and status) act only on exactly
// `<root>/sbx-<id>` when it is a real directory, and refuse everything else without touching it.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { newSandboxId } from "../../sandbox-id";
import type { OperationContext } from "../base";
import type { ExtensionManifest } from "../manifest";
import { LocalExtension, type LocalHandle } from "./extension";

const MANIFEST: ExtensionManifest = {
  apiVersion: "sandboxer.dev/v1",
  id: "ext.local",
  title: "Local workspace",
  description: "",
  implementation: "local",
  version: "1.0.0",
  defaults: { seed: null },
  source: "extensions/ext.local.yaml",
};

let tmp: string;
let root: string;
let ext: LocalExtension;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "local-guard-"));
  root = path.join(tmp, "root");
  fs.mkdirSync(root);
  ext = new LocalExtension({ manifest: MANIFEST, services: { localWorkspaceRoot: root } });
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

const ctx = (sandboxId: string): OperationContext => ({ sandboxId, signal: new AbortController().signal, log: () => {} });

/** A workspace as create would leave it, with a file inside. */
function plantWorkspace(id: string): LocalHandle {
  const workspace = path.join(root, `sbx-${id}`);
  fs.mkdirSync(workspace);
  fs.writeFileSync(path.join(workspace, "work.txt"), id);
  return { extension: "ext.local", workspace_root: root, workspace_path: workspace };
}

/** Every path under `dir` (symlinks not followed), to show that a refused destroy changed nothing. */
function snapshot(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).sort();
}

function canaryDir(): { dir: string; canary: string } {
  const dir = path.join(tmp, "precious");
  fs.mkdirSync(dir, { recursive: true });
  const canary = path.join(dir, "canary.txt");
  fs.writeFileSync(canary, "still here");
  return { dir, canary };
}

describe("ext.local destroy guard", () => {
  it("refuses a symlink planted at <root>/sbx-<id>; the directory it points at survives", async () => {
    const id = newSandboxId();
    const { dir, canary } = canaryDir();
    const planted = path.join(root, `sbx-${id}`);
    fs.symlinkSync(dir, planted);
    const handle: LocalHandle = { extension: "ext.local", workspace_root: root, workspace_path: planted };

    await expect(ext.destroy(handle, ctx(id))).rejects.toMatchObject({
      code: "LOCAL_WORKSPACE",
      message: expect.stringContaining("symbolic link"),
    });
    expect(fs.readFileSync(canary, "utf8")).toBe("still here");
    expect(fs.lstatSync(planted).isSymbolicLink()).toBe(true);
    expect((await ext.status(handle, ctx(id))).state).not.toBe("ready");
  });

  it("refuses a plain file at <root>/sbx-<id>", async () => {
    const id = newSandboxId();
    const file = path.join(root, `sbx-${id}`);
    fs.writeFileSync(file, "not a workspace");
    await expect(ext.destroy({ extension: "ext.local", workspace_root: root, workspace_path: file }, ctx(id))).rejects.toMatchObject({
      code: "LOCAL_WORKSPACE",
    });
    expect(fs.readFileSync(file, "utf8")).toBe("not a workspace");
  });

  it("removes a workspace without following symlinks inside it", async () => {
    const id = newSandboxId();
    const { dir, canary } = canaryDir();
    const handle = plantWorkspace(id);
    fs.symlinkSync(dir, path.join(handle.workspace_path, "link-to-precious"));
    fs.symlinkSync(canary, path.join(handle.workspace_path, "link-to-canary"));

    await expect(ext.destroy(handle, ctx(id))).resolves.toMatchObject({ result: "removed" });
    expect(fs.existsSync(handle.workspace_path)).toBe(false);
    expect(fs.readFileSync(canary, "utf8")).toBe("still here");
  });

  it("refuses a handle whose workspace_path is not <root>/sbx-<id>, and removes nothing", async () => {
    const id = newSandboxId();
    const sibling = newSandboxId();
    const own = plantWorkspace(id);
    const other = plantWorkspace(sibling);
    const outside = path.join(tmp, "x");
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, "keep"), "");
    const before = snapshot(tmp);

    const paths = [
      "/",
      root,
      `${root}/`,
      `${root}/../x`,
      outside,
      other.workspace_path,
      `${own.workspace_path}/`,
      `${own.workspace_path}/..`,
      `${root}/./sbx-${id}`,
      `${root}//sbx-${id}`,
      path.join(own.workspace_path, "work.txt"),
      `sbx-${id}`,
      "",
    ];
    for (const workspacePath of paths) {
      const handle: LocalHandle = { extension: "ext.local", workspace_root: root, workspace_path: workspacePath };
      await expect(ext.destroy(handle, ctx(id)), JSON.stringify(workspacePath)).rejects.toMatchObject({ code: "LOCAL_WORKSPACE" });
      await expect(ext.status(handle, ctx(id)), JSON.stringify(workspacePath)).rejects.toMatchObject({ code: "LOCAL_WORKSPACE" });
    }
    expect(snapshot(tmp)).toEqual(before);
  });

  it("refuses a handle whose workspace_root is /, relative or not normalised, even when the path matches it", async () => {
    const id = newSandboxId();
    plantWorkspace(id);
    const before = snapshot(tmp);
    const roots = ["/", "relative/root", `${root}/`, `${root}/../root`, `${tmp}/./root`, `${tmp}//root`];
    for (const badRoot of roots) {
      const handle: LocalHandle = { extension: "ext.local", workspace_root: badRoot, workspace_path: path.join(badRoot, `sbx-${id}`) };
      await expect(ext.destroy(handle, ctx(id)), badRoot).rejects.toMatchObject({ code: "LOCAL_WORKSPACE" });
    }
    expect(snapshot(tmp)).toEqual(before);
  });

  it("removes exactly its own workspace: siblings and other files under the root stay", async () => {
    const id = newSandboxId();
    const handle = plantWorkspace(id);
    const siblings = [newSandboxId(), newSandboxId()].map(plantWorkspace);
    fs.writeFileSync(path.join(root, "README"), "not a workspace");
    fs.mkdirSync(path.join(root, `sbx-${id}-old`));

    await expect(ext.destroy(handle, ctx(id))).resolves.toMatchObject({ result: "removed" });
    expect(fs.existsSync(handle.workspace_path)).toBe(false);
    for (const s of siblings)
      expect(fs.readFileSync(path.join(s.workspace_path, "work.txt"), "utf8")).toBe(path.basename(s.workspace_path).slice(4));
    expect(fs.readdirSync(root).sort()).toEqual(
      [...siblings.map((s) => path.basename(s.workspace_path)), "README", `sbx-${id}-old`].sort(),
    );
  });

  it.each([
    ["..", ".."],
    ["a slash", "a/b"],
    ["spaces", "has space"],
    ["a command substitution", "$(touch pwned)"],
    ["a newline", "abcdefgh\nx"],
    ["upper case", "ABCDEFGHIJ"],
    ["a traversal", "../../etc"],
    ["the empty string", ""],
  ])("refuses a hostile sandbox id with %s, in destroy, status and create", async (_label, id) => {
    // Plant what a naive `<root>/sbx-<id>` would point at, so a missing guard would remove something.
    const naive = path.join(root, `sbx-${id}`);
    fs.mkdirSync(naive, { recursive: true });
    fs.writeFileSync(path.join(naive, "canary"), "");
    const before = snapshot(tmp);
    const handle: LocalHandle = { extension: "ext.local", workspace_root: root, workspace_path: naive };

    await expect(ext.destroy(handle, ctx(id))).rejects.toMatchObject({ code: "LOCAL_WORKSPACE" });
    await expect(ext.status(handle, ctx(id))).rejects.toMatchObject({ code: "LOCAL_WORKSPACE" });
    let recorded = 0;
    await expect(
      ext.create({
        ...ctx(id),
        params: { seed: null },
        host: null,
        recordHandle: async () => {
          recorded++;
        },
      }),
    ).rejects.toMatchObject({ code: "VALIDATION_FAILED" });
    expect(recorded).toBe(0);
    expect(snapshot(tmp)).toEqual(before);
  });
});

describe("ext.local create errors", () => {
  it("a file-system failure reaches people as a LocalWorkspaceError naming the path; its handle destroys cleanly", async () => {
    const id = newSandboxId();
    const blocker = path.join(tmp, "a-file");
    fs.writeFileSync(blocker, "");
    const badRoot = path.join(blocker, "workspaces");
    const recorded: LocalHandle[] = [];
    const err = await ext
      .create({ ...ctx(id), params: { root: badRoot, seed: null }, host: null, recordHandle: async (h) => void recorded.push({ ...h }) })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "LOCAL_WORKSPACE",
      message: expect.stringContaining(`could not create ${path.join(badRoot, `sbx-${id}`)}`),
    });
    expect((err as Error).message).toContain("ENOTDIR");
    // The handle was recorded first, and destroying it is a clean no-op.
    expect(recorded).toEqual([{ extension: "ext.local", workspace_root: badRoot, workspace_path: path.join(badRoot, `sbx-${id}`) }]);
    await expect(ext.destroy(recorded[0]!, ctx(id))).resolves.toMatchObject({ result: "absent" });
    await expect(ext.status(recorded[0]!, ctx(id))).resolves.toMatchObject({ state: "missing" });
  });

  it("a failing git clone: its output reaches the log, and its last lines the error", async () => {
    const id = newSandboxId();
    const repo = path.join(tmp, "repo");
    fs.mkdirSync(repo);
    execFileSync("git", ["init", "--quiet", "-b", "main", repo]);
    execFileSync("git", [
      "-C",
      repo,
      "-c",
      "user.name=t",
      "-c",
      "user.email=t@example.test",
      "commit",
      "--quiet",
      "--allow-empty",
      "-m",
      "x",
    ]);
    const logged: string[] = [];
    const err = await ext
      .create({
        ...ctx(id),
        log: (line) => void logged.push(line),
        params: { seed: { path: repo, mode: "clone", ref: "no-such-branch" } },
        host: null,
        recordHandle: async () => {},
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "LOCAL_WORKSPACE", message: expect.stringMatching(/^git exited with 128: .*no-such-branch/) });
    expect(logged.some((l) => l.includes("no-such-branch"))).toBe(true);
  });
});
