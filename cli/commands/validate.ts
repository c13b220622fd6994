// validate [dir]: checks a checkout's extension manifests, profiles and hosts files the way the
// server loads them (the same loaders as `npm run validate:config`), with file, line and field for
// every problem. No server needed; exit 1 when anything is wrong, for CI.
import path from "node:path";

import type { Command } from "commander";

import type { ConfigIssue } from "@/lib/extensions/yaml-config";

import { CliError, EXIT } from "../exit-codes";
import { FAIL_MARK, note, OK_MARK, out, printJson } from "../output";

export function registerValidateCommand(program: Command, setExit: (code: number) => void): void {
  program
    .command("validate")
    .description("Validate extensions/*.yaml, profiles/*.yaml and hosts files in a checkout (no server needed)")
    .argument("[dir]", "the configuration directory (default: $SANDBOXER_CONFIG_DIR, else .)")
    .option("--hosts <file>", "hosts file to check besides hosts.example.yaml (default: $SANDBOXER_HOSTS_FILE or hosts.yaml)")
    .option("--json", "print the result as JSON")
    .addHelpText("after", "\nExample (CI):\n  npx sandboxer validate . || exit 1")
    .action(async (dirArg: string | undefined, opts: { hosts?: string; json?: boolean }) => {
      // The server reads its configuration from SANDBOXER_CONFIG_DIR: so does the check, unless told otherwise.
      const dir = path.resolve(dirArg ?? (process.env.SANDBOXER_CONFIG_DIR || "."));
      // Loaded on demand: these pull in every extension (and ssh2), which no other command needs.
      const [{ loadCatalog }, { createRegistry }, { formatIssue, issuesOf }, { readHostsFile }] = await Promise.all([
        import("@/lib/extensions/catalog"),
        import("@/lib/extensions/registry"),
        import("@/lib/extensions/yaml-config"),
        import("@/lib/hosts/hosts-file"),
      ]);
      let catalog: ReturnType<typeof loadCatalog>;
      try {
        catalog = loadCatalog({
          configDir: dir,
          registry: createRegistry(),
          services: { localWorkspaceRoot: path.join(dir, "data", "workspaces") },
        });
      } catch (e) {
        throw new CliError("VALIDATE_FAILED", `Cannot read the configuration in ${dir}: ${(e as Error).message}`, EXIT.FAILURE);
      }
      const issues: ConfigIssue[] = [...catalog.issues];
      const hosts: { file: string; hosts: number }[] = [];
      for (const name of [opts.hosts ?? process.env.SANDBOXER_HOSTS_FILE ?? "hosts.yaml", "hosts.example.yaml"]) {
        const file = path.resolve(dir, name);
        const display = path.relative(dir, file) || name;
        try {
          const entries = readHostsFile(file, display);
          if (entries.length) hosts.push({ file: display, hosts: entries.length });
        } catch (e) {
          issues.push(...issuesOf(e, display));
        }
      }
      if (catalog.manifests.length === 0)
        issues.push({ file: "extensions/", field: "", message: `no extension manifests found under ${path.join(dir, "extensions")}` });
      const ok = issues.length === 0;
      if (opts.json) {
        printJson({
          ok,
          directory: dir,
          manifests: catalog.manifests.map((m) => ({ id: m.id, version: m.version, source: m.source })),
          profiles: catalog.profiles.map((p) => ({ id: p.id, source: p.source, ok: p.errors.length === 0 })),
          hosts,
          issues,
        });
      } else {
        for (const m of catalog.manifests) out(`${OK_MARK} ${m.source} (${m.id} ${m.version})`);
        for (const p of catalog.profiles) if (p.errors.length === 0) out(`${OK_MARK} ${p.source} (${p.id})`);
        for (const h of hosts) out(`${OK_MARK} ${h.file} (${h.hosts} host${h.hosts === 1 ? "" : "s"})`);
        for (const issue of issues) note(`${FAIL_MARK} ${formatIssue(issue)}`);
        out(ok ? "All manifests, profiles and hosts files are valid." : `${issues.length} problem(s) found.`);
      }
      setExit(ok ? EXIT.OK : EXIT.FAILURE);
    });
}
