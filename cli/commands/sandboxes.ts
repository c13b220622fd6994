// list, show, create, destroy, extend: the sandbox lifecycle from a terminal or a script.
import { Option, type Command } from "commander";

import { DURATION_PATTERN } from "@/lib/duration";
import { expiryMeaning } from "@/lib/manager/states";
import type { SandboxDetailView, SandboxListView, SandboxView } from "@/lib/manager/views";

import { CliError, EXIT } from "../exit-codes";
import { followSandbox } from "../follow";
import { withInterrupt } from "../interrupt";
import { clock, FAIL_MARK, note, OK_MARK, out, printJson, relative, seconds, table } from "../output";
import { confirm } from "../prompt";
import { apiClient, collect, inputMap, positiveInt, sandboxPath } from "./shared";

export function sandboxRow(s: SandboxView): string[] {
  return [
    s.id,
    s.status,
    s.profileId,
    s.owner.email,
    s.handle?.target ?? s.host?.title ?? "-",
    expiryMeaning(s.status) === "ends" ? relative(s.expiresAt) : "-",
    relative(s.createdAt),
  ];
}

export const SANDBOX_COLUMNS = ["ID", "STATUS", "PROFILE", "OWNER", "WHERE", "EXPIRES", "CREATED"];

function printDetail(s: SandboxDetailView): void {
  const expiry = expiryMeaning(s.status);
  const rows: [string, string | null | undefined][] = [
    ["id", s.id],
    ["status", s.status + (s.statusReason ? ` (${s.statusReason})` : "")],
    ["profile", `${s.profileId} — ${s.profileTitle}`],
    ["owner", `${s.owner.name} <${s.owner.email}>`],
    ["created", `${s.createdAt} (${relative(s.createdAt)})`],
    ["ready", s.readyAt],
    ["expires", s.expiresAt && expiry === "ends" ? `${s.expiresAt} (${relative(s.expiresAt)})` : null],
    ["cleaned up", s.expiresAt && expiry === "cleanup" ? `${s.expiresAt} (${relative(s.expiresAt)}, automatically)` : null],
    ["max expiry", s.maxExpiresAt],
    ["destroyed", s.destroyedAt],
    ["queue", s.queue ? `#${s.queue.position}: ${s.queue.reason}` : null],
    [
      "input",
      Object.keys(s.input).length
        ? Object.entries(s.input)
            .map(([k, v]) => `${k}=${String(v)}`)
            .join(", ")
        : null,
    ],
    ["where", s.handle?.target],
    ["workspace", s.handle?.workspacePath],
    ["host key", s.handle?.hostKey],
    // Only where it would work: an SSH sandbox that is ready.
    ["ssh", s.handle?.sshCommand && s.status === "ready" ? `sandboxer ssh ${s.id}` : null],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) if (v) out(`${k.padEnd(width)}  ${v}`);
  if (s.handle?.teardown.length) {
    out("destroy removes:");
    for (const line of s.handle.teardown) out(`  - ${line}`);
  }
  if (s.timeline.length) {
    out("timeline:");
    for (const t of s.timeline) out(`  ${clock(t.at)}  ${t.status.padEnd(14)} ${t.message}${t.actor ? ` (${t.actor})` : ""}`);
  }
}

/** Prints the outcome of a wait; the exit code is 0 only for `want`. */
function reportFinal(s: SandboxView, want: SandboxView["status"], startedAt: number): number {
  if (s.status === want) {
    note(`${OK_MARK} ${s.id} is ${s.status} (${seconds(Date.now() - startedAt)})`);
    return EXIT.OK;
  }
  note(`${FAIL_MARK} ${s.id} is ${s.status}${s.statusReason ? `: ${s.statusReason}` : ""}`);
  return EXIT.FAILURE;
}

export function registerSandboxCommands(program: Command, setExit: (code: number) => void): void {
  program
    .command("list")
    .alias("ls")
    .description("List sandboxes (the team's live ones by default)")
    .option("--all", "include destroyed sandboxes")
    .option("--status <statuses>", "comma-separated statuses, e.g. ready,failed")
    .option("--mine", "only mine")
    .option("--owner <userId>", "only this user's")
    .option("--profile <profileId>", "only from this profile")
    .option("--host <hostId>", "only on this build host")
    .option("-q, --query <text>", "id prefix or profile text")
    .option("--page <n>", "page number", positiveInt, 1)
    .option("--page-size <n>", "rows per page (max 200)", positiveInt, 50)
    .option("--json", "print the page as JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  sandboxer list --mine\n  sandboxer list --status failed,destroy_failed --json | jq -r '.rows[].id'",
    )
    .action(
      async (opts: {
        all?: boolean;
        status?: string;
        mine?: boolean;
        owner?: string;
        profile?: string;
        host?: string;
        query?: string;
        page: number;
        pageSize: number;
        json?: boolean;
      }) => {
        const list = await apiClient().get<SandboxListView>("/sandboxes", {
          query: {
            all: opts.all ? "1" : undefined,
            status: opts.status,
            mine: opts.mine ? "1" : undefined,
            owner: opts.owner,
            profile: opts.profile,
            host: opts.host,
            q: opts.query,
            page: opts.page,
            pageSize: opts.pageSize,
          },
        });
        if (opts.json) printJson(list);
        else if (list.rows.length === 0) out("No sandboxes match.");
        else {
          out(
            table(
              SANDBOX_COLUMNS,
              list.rows.map((s) => sandboxRow(s)),
            ),
          );
          if (list.pages > 1) out(`page ${list.page} of ${list.pages} (${list.total} sandboxes; --page ${list.page + 1} for more)`);
        }
        setExit(EXIT.OK);
      },
    );

  program
    .command("show")
    .description("Show one sandbox: status, where it lives, what destroy removes, its timeline")
    .argument("<id>", "sandbox id")
    .option("--json", "print as JSON")
    .addHelpText("after", "\nExample:\n  sandboxer show k3v9q2m7x1ab")
    .action(async (id: string, opts: { json?: boolean }) => {
      const detail = await apiClient().get<SandboxDetailView>(sandboxPath(id), { query: { detail: "1" } });
      if (opts.json) printJson(detail);
      else printDetail(detail);
      setExit(EXIT.OK);
    });

  program
    .command("create")
    .description("Create a sandbox from a profile")
    .argument("<profile>", "profile id (see `sandboxer profiles`)")
    .option("--ref <ref>", "git ref to use (the profile's `ref` input)")
    .option("--input <key=value>", "a profile input; repeat for several", collect, [])
    .option("--wait", "follow progress until it is ready; exit 1 if it fails")
    .option("--json", "print the sandbox as JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  sandboxer create profile.vm-haskell-build --ref feature-x --wait\n  id=$(sandboxer create profile.local --wait --json | jq -r .id)",
    )
    .action(async (profile: string, opts: { ref?: string; input: string[]; wait?: boolean; json?: boolean }) => {
      const client = apiClient();
      const startedAt = Date.now();
      const created = await client.post<SandboxView>("/sandboxes", { profile, input: inputMap(opts.input, opts.ref) });
      if (!opts.wait) {
        if (opts.json) printJson(created);
        else out(`${created.id} (${created.status}); follow it with: sandboxer show ${created.id}`);
        return setExit(EXIT.OK);
      }
      note(`Creating ${created.id} from ${profile}…`);
      const final = await withInterrupt((signal) =>
        followSandbox(client, created.id, { show: true, signal }).catch((e: unknown) => {
          if (signal.aborted) note(`Stopped waiting; ${created.id} is still being created (sandboxer destroy ${created.id} to cancel it)`);
          throw e;
        }),
      );
      const code = reportFinal(final, "ready", startedAt);
      if (opts.json) printJson(final);
      else if (code === EXIT.OK) {
        out(final.id);
        // `sandboxer ssh` reaches SSH sandboxes only (a build VM, directly or through the gateway); a
        // local workspace is a directory on the server's machine, and the hint says just that.
        if (final.handle?.workspacePath)
          note(
            `  workspace ${final.handle.workspacePath} on ${final.handle.target}` +
              (final.handle.sshCommand ? `; connect: sandboxer ssh ${final.id}` : ""),
          );
      }
      setExit(code);
    });

  program
    .command("destroy")
    .alias("rm")
    .description("Destroy sandboxes: shows exactly what will be removed and asks first")
    .argument("<ids...>", "sandbox ids")
    .option("-y, --yes", "do not ask")
    .addOption(new Option("--no-wait", "return once the destroy is queued"))
    .option("--json", "print the sandboxes as JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  sandboxer destroy k3v9q2m7x1ab\n  sandboxer destroy --yes $(sandboxer list --mine --status failed --json | jq -r '.rows[].id')",
    )
    .action(async (ids: string[], opts: { yes?: boolean; wait: boolean; json?: boolean }) => {
      const client = apiClient();
      const unique = [...new Set(ids)];
      // Look every id up first: a typo stops the whole command before anything is destroyed.
      const sandboxes = await Promise.all(unique.map((id) => client.get<SandboxView>(sandboxPath(id))));
      const todo = sandboxes.filter((s) => s.status !== "destroyed");
      for (const s of sandboxes) if (s.status === "destroyed") note(`${s.id} is already destroyed`);
      if (todo.length === 0) {
        if (opts.json) printJson(sandboxes);
        return setExit(EXIT.OK);
      }
      note(`This destroys ${todo.length === 1 ? "1 sandbox" : `${todo.length} sandboxes`}:`);
      for (const s of todo) {
        note(`  ${s.id}  ${s.profileId}  ${s.status}  (owner ${s.owner.email})`);
        const lines = s.handle?.teardown ?? [];
        if (lines.length === 0) note("    - nothing was recorded yet: nothing to remove");
        for (const line of lines) note(`    - ${line}`);
      }
      if (!opts.yes) {
        const answer = await confirm(todo.length === 1 ? "Destroy it?" : `Destroy these ${todo.length}?`);
        if (answer !== "yes") {
          // No terminal and no answer (a script, a CI job): say how to confirm without a prompt.
          note(
            answer === "no answer"
              ? `Nothing was destroyed: no answer on standard input. Pass --yes to destroy without asking (sandboxer destroy --yes ${todo.map((s) => s.id).join(" ")}).`
              : "Nothing was destroyed.",
          );
          return setExit(EXIT.FAILURE);
        }
      }
      const startedAt = Date.now();
      const queued: SandboxView[] = [];
      for (const s of todo) queued.push(await client.delete<SandboxView>(sandboxPath(s.id)));
      if (!opts.wait) {
        if (opts.json) printJson(queued);
        else for (const s of queued) out(`${s.id} ${s.status}`);
        return setExit(EXIT.OK);
      }
      const finals = await withInterrupt((signal) => Promise.all(queued.map((s) => followSandbox(client, s.id, { show: false, signal }))));
      const codes = finals.map((s) => reportFinal(s, "destroyed", startedAt));
      if (opts.json) printJson(finals);
      else for (const s of finals) out(`${s.id} ${s.status}`);
      setExit(codes.every((c) => c === EXIT.OK) ? EXIT.OK : EXIT.FAILURE);
    });

  program
    .command("extend")
    .description("Move a sandbox's expiry later (up to its profile's maximum)")
    .argument("<id>", "sandbox id")
    .requiredOption("--by <duration>", "how much longer, e.g. 2h, 30m, 1d")
    .option("--json", "print the sandbox as JSON")
    .addHelpText("after", "\nExample:\n  sandboxer extend k3v9q2m7x1ab --by 2h")
    .action(async (id: string, opts: { by: string; json?: boolean }) => {
      if (!DURATION_PATTERN.test(opts.by))
        throw new CliError("BAD_DURATION", `--by ${JSON.stringify(opts.by)}: use e.g. 2h, 30m or 1h30m`, EXIT.USAGE);
      const s = await apiClient().post<SandboxView>(`${sandboxPath(id)}/extend`, { by: opts.by });
      if (opts.json) printJson(s);
      else out(`${OK_MARK} ${s.id} now expires ${s.expiresAt} (${relative(s.expiresAt)}; at most ${s.maxExpiresAt})`);
      setExit(EXIT.OK);
    });
}
