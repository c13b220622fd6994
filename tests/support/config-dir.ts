// A config directory of YAML files (extension manifests, profiles) in a temp dir, for tests and the
// bench's own runs. No test-runner imports: the bench scripts use it too.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { stringify } from "yaml";

export const FAKE_MANIFEST = {
  apiVersion: "sandboxer.dev/v1",
  id: "ext.fake",
  title: "Fake (tests only)",
  description: "Scripted answers for tests",
  implementation: "fake",
  version: "1.0.0",
  defaults: { steps: 2 },
};

export function writeConfigDir(opts: {
  dir?: string;
  manifests?: Record<string, unknown>[];
  profiles?: Record<string, Record<string, unknown>>;
  includeRepoManifests?: boolean;
}): string {
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "sandboxer-config-"));
  fs.mkdirSync(path.join(dir, "extensions"), { recursive: true });
  fs.mkdirSync(path.join(dir, "profiles"), { recursive: true });
  if (opts.includeRepoManifests) {
    for (const f of fs.readdirSync(path.resolve("extensions")))
      fs.copyFileSync(path.resolve("extensions", f), path.join(dir, "extensions", f));
  }
  for (const m of opts.manifests ?? [FAKE_MANIFEST]) {
    fs.writeFileSync(path.join(dir, "extensions", `${String(m.id)}.yaml`), stringify(m));
  }
  for (const [name, p] of Object.entries(opts.profiles ?? {})) {
    fs.writeFileSync(
      path.join(dir, "profiles", `${name}.yaml`),
      stringify({ apiVersion: "sandboxer.dev/v1", id: `profile.${name}`, title: name, ttl: "8h", ...p }),
    );
  }
  return dir;
}
