// ext.local against the Extension SDK conformance suite, on the real file system and real git: an empty
// workspace under the server's root, a workspace cloned from a local git repository, and one copied
// from a directory (large enough that an abort lands in the middle of the copy).
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "vitest";

import type { ExtensionManifest } from "@/lib/extensions/manifest";
import { LocalExtension, type LocalHandle, type LocalParams } from "@/lib/extensions/local/extension";
import { describeConformance, type ConformanceTarget } from "@/lib/extensions/testing/conformance";

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

function tempDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `conformance-local-${label}-`));
}

async function exists(h: LocalHandle): Promise<boolean> {
  try {
    await fs.promises.lstat(h.workspace_path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw e;
  }
}

type LocalTarget = ConformanceTarget<LocalParams, LocalHandle>;

function localTarget(tmp: string, params: Record<string, unknown>, rest: Partial<LocalTarget> = {}): LocalTarget {
  const extension = new LocalExtension({ manifest: MANIFEST, services: { localWorkspaceRoot: path.join(tmp, "server-root") } });
  return {
    extension,
    params,
    exists,
    teardownNames: (h) => [h.workspace_path],
    // A seed that is not there: create has made the workspace directory before it finds out.
    makeFailing: (p) => ({ ...p, seed: { path: path.join(tmp, "no-such-seed") } }),
    makeUnmet: (p) => ({ ...p, seed: { path: path.join(tmp, "no-such-seed") } }),
    cleanup: async () => fs.rmSync(tmp, { recursive: true, force: true }),
    ...rest,
  };
}

describeConformance(
  "ext.local, empty workspace under the server's root",
  async () => {
    const tmp = tempDir("empty");
    return localTarget(
      tmp,
      { seed: null },
      {
        async verifyCreated(h) {
          expect(path.dirname(h.workspace_path)).toBe(path.join(tmp, "server-root"));
          expect(fs.readdirSync(h.workspace_path)).toEqual([]);
        },
      },
    );
  },
  { failing: true, unmet: true },
);

describeConformance(
  "ext.local, cloned from a local git repository at a branch",
  async () => {
    const tmp = tempDir("git");
    const repo = path.join(tmp, "repo");
    fs.mkdirSync(repo);
    const git = (...args: string[]) =>
      execFileSync("git", ["-c", "user.name=Conformance", "-c", "user.email=conformance@example.test", ...args], {
        cwd: repo,
        stdio: "pipe",
      });
    git("init", "--quiet", "-b", "main");
    fs.writeFileSync(path.join(repo, "README.md"), "main branch\n");
    git("add", "README.md");
    git("commit", "--quiet", "-m", "first");
    git("checkout", "--quiet", "-b", "feature");
    fs.writeFileSync(path.join(repo, "feature.txt"), "only on feature\n");
    git("add", "feature.txt");
    git("commit", "--quiet", "-m", "feature");
    git("checkout", "--quiet", "main");
    const root = path.join(tmp, "profile-root");
    return localTarget(
      tmp,
      { root, seed: { path: repo, ref: "feature" } },
      {
        async verifyCreated(h) {
          expect(h.workspace_root).toBe(root);
          expect(fs.readFileSync(path.join(h.workspace_path, "feature.txt"), "utf8")).toBe("only on feature\n");
          expect(fs.statSync(path.join(h.workspace_path, ".git")).isDirectory()).toBe(true);
        },
        // A ref the repository does not have: git fails after the workspace directory exists.
        makeFailing: (p) => ({ ...p, seed: { path: repo, ref: "no-such-branch" } }),
      },
    );
  },
  { failing: true, unmet: true },
);

describeConformance(
  "ext.local, copied from a directory",
  async () => {
    const tmp = tempDir("copy");
    const seed = path.join(tmp, "seed");
    fs.mkdirSync(path.join(seed, "src"), { recursive: true });
    fs.writeFileSync(path.join(seed, "src", "main.c"), "int main(void) { return 0; }\n");
    fs.symlinkSync("src/main.c", path.join(seed, "entry"));
    // Thousands of small files: the copy takes seconds, so an abort arrives while it runs.
    const big = path.join(tmp, "big-seed");
    for (let d = 0; d < 40; d++) {
      fs.mkdirSync(path.join(big, `d${d}`), { recursive: true });
      for (let f = 0; f < 150; f++) fs.writeFileSync(path.join(big, `d${d}`, `f${f}.txt`), `${d}/${f}\n`);
    }
    const root = path.join(tmp, "profile-root");
    return localTarget(
      tmp,
      { root, seed: { path: seed, mode: "copy" } },
      {
        async verifyCreated(h) {
          expect(fs.readFileSync(path.join(h.workspace_path, "src", "main.c"), "utf8")).toContain("main");
          expect(fs.readlinkSync(path.join(h.workspace_path, "entry"))).toBe("src/main.c");
        },
        makeSlow: (p) => ({ ...p, seed: { path: big, mode: "copy" } }),
        abortWithinMs: 750,
      },
    );
  },
  { slow: true, failing: true, unmet: true },
);
