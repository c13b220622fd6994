// npm run validate:config [-- <config-dir>]: loads every manifest (extensions/*.yaml) and profile
// (profiles/*.yaml) the way the server does, prints each problem with file, line and field, and exits
// 1 when there is any. CI runs it; `sandboxer validate` does the same for a checkout.
import path from "node:path";

import { loadCatalog } from "../lib/extensions/catalog";
import { createRegistry } from "../lib/extensions/registry";
import { formatIssue, type ConfigIssue } from "../lib/extensions/yaml-config";
import { readHostsFile } from "../lib/hosts/hosts-file";

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
// hosts.yaml (if the checkout has one) and the example, which people copy.
const hostIssues: ConfigIssue[] = [];
for (const name of [process.env.SANDBOXER_HOSTS_FILE ?? "hosts.yaml", "hosts.example.yaml"]) {
  const file = path.resolve(configDir, name);
  try {
    const hosts = readHostsFile(file, name);
    if (hosts.length) console.log(`✓ ${name} (${hosts.length} host${hosts.length === 1 ? "" : "s"})`);
  } catch (e) {
    hostIssues.push(...((e as { issues?: ConfigIssue[] }).issues ?? [{ file: name, field: "", message: (e as Error).message }]));
  }
}
catalog.issues.push(...hostIssues);
for (const issue of catalog.issues) console.error(`✗ ${formatIssue(issue)}`);
if (catalog.manifests.length === 0) console.error(`✗ no extension manifests found under ${path.join(configDir, "extensions")}`);
const bad = catalog.issues.length > 0 || catalog.manifests.length === 0;
console.log(bad ? `${catalog.issues.length} problem(s) found.` : "All manifests, profiles and hosts files are valid.");
process.exit(bad ? 1 : 0);
