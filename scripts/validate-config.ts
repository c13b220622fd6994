// npm run validate:config [-- <config-dir>]: loads every manifest (extensions/*.yaml) and profile
// (profiles/*.yaml) the way the server does, prints each problem with file, line and field, and exits
// 1 when there is any. CI runs it; `sandboxer validate` does the same for a checkout.
import path from "node:path";

import { loadCatalog } from "../lib/extensions/catalog";
import { createRegistry } from "../lib/extensions/registry";
import { formatIssue } from "../lib/extensions/yaml-config";

const configDir = path.resolve(process.argv[2] ?? ".");
const catalog = loadCatalog({
  configDir,
  registry: createRegistry(),
  services: { localWorkspaceRoot: path.join(configDir, "data", "workspaces") },
});
for (const m of catalog.manifests) console.log(`✓ ${m.source} (${m.id} ${m.version})`);
for (const p of catalog.profiles) {
  if (p.errors.length === 0) console.log(`✓ ${p.source} (${p.id})`);
}
for (const issue of catalog.issues) console.error(`✗ ${formatIssue(issue)}`);
if (catalog.manifests.length === 0) console.error(`✗ no extension manifests found under ${path.join(configDir, "extensions")}`);
const bad = catalog.issues.length > 0 || catalog.manifests.length === 0;
console.log(bad ? `${catalog.issues.length} problem(s) found.` : "All manifests and profiles are valid.");
process.exit(bad ? 1 : 0);
