// doctor: is everything in place for the CLI to work? One ✓/✗ line per check — the server answers,
// the token is valid, ssh and rsync are installed, and every profile's extension check passes on
// each host it could use (the server runs those checks; it holds the keys). A profile that needs a build
// host no one registered is "not configured" — a warning (⚠), as on every fresh install — not a failure.
// Exit 1 only if something failed.
import { execFile } from "node:child_process";

import type { Command } from "commander";

import type { ProfileCheckView } from "@/lib/manager/profile-check";
import type { ProfileView } from "@/lib/manager/views";
import type { WhoAmIView } from "@/lib/manager/whoami";

import type { ApiClient } from "../api-client";
import { EXIT } from "../exit-codes";
import { FAIL_MARK, OK_MARK, WARN_MARK, out, printJson } from "../output";
import { apiClient, describeIdentity } from "./shared";

interface Check {
  name: string;
  ok: boolean;
  /** Not set up on this server (a warning): ok stays true. */
  warning?: boolean;
  detail: string;
}

function toolVersion(file: string, args: string[]): Promise<{ ok: boolean; detail: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 10_000 }, (err, stdout, stderr) => {
      const text = `${stdout}${stderr}`.trim().split("\n")[0] ?? "";
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT")
        resolve({ ok: false, detail: `${file} is not installed (needed by ssh, exec and run)` });
      else if (err) resolve({ ok: false, detail: `${file} ${args.join(" ")} failed: ${err.message}` });
      else resolve({ ok: true, detail: text });
    });
  });
}

export function registerDoctorCommand(program: Command, setExit: (code: number) => void): void {
  program
    .command("doctor")
    .description(
      "Check the server, your token, ssh/rsync and every profile's hosts; exit 1 if anything failed (not configured is a warning)",
    )
    .option("--json", "print the checks as JSON")
    .addHelpText("after", "\nExample:\n  sandboxer doctor")
    .action(async (opts: { json?: boolean }) => {
      const checks: Check[] = [];
      const add = (name: string, ok: boolean, detail: string, warning = false) => {
        checks.push({ name, ok, detail, ...(warning ? { warning } : {}) });
        if (!opts.json) out(`${warning ? WARN_MARK : ok ? OK_MARK : FAIL_MARK} ${name}: ${detail}`);
      };

      let client: ApiClient | null = null;
      try {
        client = apiClient();
      } catch (e) {
        add("login", false, (e as Error).message);
      }
      let authenticated = false;
      if (client) {
        const t = Date.now();
        try {
          // The public document answers without a token: reachability apart from authentication.
          const res = await fetch(`${client.url}/api/v1/openapi.json`, { signal: AbortSignal.timeout(10_000) });
          add("server", res.ok, res.ok ? `${client.url} answers (${Date.now() - t} ms)` : `${client.url} answered HTTP ${res.status}`);
        } catch (e) {
          const cause = (e as { cause?: { message?: string } }).cause?.message ?? (e as Error).message;
          add("server", false, `cannot reach ${client.url}: ${cause}`);
        }
        try {
          const me = await client.get<WhoAmIView>("/me");
          add("token", true, describeIdentity(me));
          authenticated = true;
        } catch (e) {
          add("token", false, (e as Error).message);
        }
      }
      for (const [tool, args] of [
        ["ssh", ["-V"]],
        ["rsync", ["--version"]],
      ] as const) {
        const r = await toolVersion(tool, [...args]);
        add(tool, r.ok, r.detail);
      }
      if (client && authenticated) {
        const profiles = await client.get<ProfileView[]>("/profiles");
        if (profiles.length === 0) add("profiles", false, "the server has no profiles");
        // The server bounds each check; several profiles on the same hosts share its SSH pool.
        const results = await Promise.all(
          profiles.map((p) =>
            client.post<ProfileCheckView>(`/profiles/${encodeURIComponent(p.id)}/check`, {}, { timeoutMs: 60_000 }).then(
              (view) => ({ view }),
              (e: unknown) => ({ error: (e as Error).message }),
            ),
          ),
        );
        profiles.forEach((p, i) => {
          const result = results[i]!;
          if ("error" in result) return add(p.id, false, result.error);
          const r = result.view;
          if (r.errors.length)
            return add(
              p.id,
              false,
              `invalid: ${r.errors.map((e) => `${e.file}${e.line ? `:${e.line}` : ""} ${e.field ? `${e.field}: ` : ""}${e.message}`).join("; ")}`,
            );
          if (r.notConfigured) return add(p.id, true, `not configured: ${r.notConfigured}`, true);
          for (const target of r.targets) {
            const where = target.host ? `${p.id} @ ${target.host.id}` : p.id;
            if (target.requirements.length === 0) add(where, true, "nothing to check");
            for (const req of target.requirements) add(`${where} ${req.name}`, req.met, req.reason);
          }
        });
      }
      const ok = checks.every((c) => c.ok);
      const warnings = checks.filter((c) => c.warning).length;
      const notes = warnings ? ` (${warnings} not configured on this server: add a build host to use them)` : "";
      if (opts.json) printJson({ ok, checks });
      else out(ok ? `All checks passed${notes}.` : `${checks.filter((c) => !c.ok).length} check(s) failed${notes}.`);
      setExit(ok ? EXIT.OK : EXIT.FAILURE);
    });
}
