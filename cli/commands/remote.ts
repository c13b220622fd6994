// ssh, exec and run: working inside a sandbox's workspace over SSH with the pinned host key.
// `run` is the remote build: create (or reuse) a sandbox, sync the current directory into it, run a
// command there, and destroy the sandbox afterwards — whether the command passed, failed or was
// interrupted. The destroy is queued, not waited for (unless --wait-destroy): removing a tree of
// thousands of files is the server's work, supervised by its worker, not the person's wait.
import fs from "node:fs";
import path from "node:path";

import type { Command } from "commander";

import type { ConnectionView } from "@/lib/manager/connection";
import type { SandboxView } from "@/lib/manager/views";
import { shellCommand } from "@/lib/ssh/shell-quote";

import type { ApiClient } from "../api-client";
import { CliError, EXIT, isCliError } from "../exit-codes";
import { followSandbox } from "../follow";
import { withInterrupt } from "../interrupt";
import { FAIL_MARK, note, OK_MARK, seconds } from "../output";
import { PinnedTarget, interactiveShell, resolveIdentity, runRemoteCommand, syncDirectory } from "../remote";
import { gatewayRoute, noKeyNotice } from "./gateway";
import { apiClient, collect, inputMap, sandboxPath } from "./shared";

type GatewayRoute = ReturnType<typeof gatewayRoute>;

/**
 * Where ssh, exec and run connect: through the server's SSH gateway (user = sandbox id, the gateway's
 * host key from the API) when it is on and the person has registered a key, else straight to the VM
 * with the pinned VM key (`--direct`; the gateway is off; or no key registered yet — then with a note
 * on stderr saying how to register one, unless `quiet`).
 */
export async function pinnedTarget(
  client: ApiClient,
  id: string,
  identity: string | undefined,
  signal?: AbortSignal,
  direct = false,
  quiet = false,
  known: { route?: GatewayRoute; view?: SandboxView } = {},
): Promise<PinnedTarget> {
  // The connection details and the gateway route at once: one round trip instead of three in a row
  // (`run` asks for the route while its create is under way, and passes it in).
  const route = direct ? Promise.resolve({ gateway: null, noKey: false }) : (known.route ?? gatewayRoute(client, signal));
  route.catch(() => {}); // awaited below
  // A ready sandbox on a build VM whose view the caller has (run's create answered with it): through
  // the gateway that is all it takes — the gateway reaches the VM with the server's own pinned key, so
  // the VM's connection details (and their round trip) are not needed.
  const view = known.view;
  if (!direct && view?.id === id && view.status === "ready" && view.host && view.handle?.workspacePath) {
    const { gateway } = await route;
    if (gateway) {
      return PinnedTarget.open(
        {
          sandboxId: id,
          hostId: view.host.id,
          host: gateway.host,
          port: gateway.port,
          user: id,
          workspacePath: view.handle.workspacePath,
          hostKey: gateway.fingerprint,
          knownHostsLine: gateway.knownHostsLine,
        },
        identity,
      );
    }
  }
  let conn: ConnectionView;
  try {
    conn = await client.get<ConnectionView>(`${sandboxPath(id)}/connection`, { signal });
  } catch (e) {
    // A local sandbox (ext.local) has no SSH endpoint of its own: admins enter it through the gateway
    // (which refuses everyone else with its reason). Without a gateway route the API's answer stands.
    if (direct || !isCliError(e) || e.code !== "NOT_CONNECTABLE" || e.details?.extension !== "ext.local") throw e;
    const { gateway } = await route;
    const view = gateway ? await client.get<SandboxView>(sandboxPath(id), { signal }) : null;
    const workspacePath = view?.status === "ready" ? view.handle?.workspacePath : undefined;
    if (!gateway || !workspacePath) throw e;
    return PinnedTarget.open(
      {
        sandboxId: id,
        hostId: null,
        host: gateway.host,
        port: gateway.port,
        user: id,
        workspacePath,
        hostKey: gateway.fingerprint,
        knownHostsLine: gateway.knownHostsLine,
      },
      identity,
    );
  }
  const { gateway, noKey } = await route;
  if (direct) return PinnedTarget.open(conn, identity);
  if (noKey && !quiet) note(noKeyNotice(identity));
  if (!gateway) return PinnedTarget.open(conn, identity);
  return PinnedTarget.open(
    { ...conn, host: gateway.host, port: gateway.port, user: id, hostKey: gateway.fingerprint, knownHostsLine: gateway.knownHostsLine },
    identity,
  );
}

const DESTROY_WAIT_MS = 5 * 60_000;

/**
 * Asks for the destroy of a sandbox `run` created; reports instead of throwing. The destroy is queued
 * on the server (202), where the worker carries it out, retries it and shows its outcome to the team
 * (`destroy_failed` with the reason). With `wait`, follows it to that outcome. True when the destroy
 * was queued (and, with `wait`, ended in `destroyed`).
 */
async function destroyCreated(client: ApiClient, id: string, opts: { quiet: boolean; wait: boolean }): Promise<boolean> {
  const startedAt = Date.now();
  try {
    await client.delete<SandboxView>(sandboxPath(id));
    if (!opts.wait) {
      if (!opts.quiet) note(`▸ destroying ${id} in the background (its outcome: sandboxer show ${id})`);
      return true;
    }
    if (!opts.quiet) note(`▸ destroying ${id}…`);
    const final = await followSandbox(client, id, { show: false, signal: AbortSignal.timeout(DESTROY_WAIT_MS) });
    if (final.status === "destroyed") {
      if (!opts.quiet) note(`▸ destroyed ${id} (${seconds(Date.now() - startedAt)})`);
      return true;
    }
    note(`${FAIL_MARK} ${id} is ${final.status}${final.statusReason ? `: ${final.statusReason}` : ""} — see \`sandboxer show ${id}\``);
  } catch (e) {
    note(`${FAIL_MARK} could not destroy ${id}: ${(e as Error).message} — run \`sandboxer destroy ${id}\``);
  }
  return false;
}

function sourceDirectory(dir: string | undefined): string {
  const source = path.resolve(dir ?? process.cwd());
  if (!fs.statSync(source, { throwIfNoEntry: false })?.isDirectory())
    throw new CliError("BAD_DIR", `${source} is not a directory`, EXIT.USAGE);
  return source;
}

export function registerRemoteCommands(program: Command, setExit: (code: number) => void): void {
  program
    .command("ssh")
    .description("Open an interactive shell in a sandbox's workspace (system ssh, pinned host key, your own key)")
    .argument("<id>", "sandbox id")
    .option("-i, --identity <file>", "private key to log in with (default: $SANDBOXER_SSH_IDENTITY, else ssh's own defaults and agent)")
    .option("--direct", "connect straight to the VM instead of through the server's SSH gateway")
    .addHelpText("after", "\nExample:\n  sandboxer ssh k3v9q2m7x1ab -i ~/.ssh/id_ed25519")
    .action(async (id: string, opts: { identity?: string; direct?: boolean }) => {
      const target = await pinnedTarget(apiClient(), id, resolveIdentity(opts.identity), undefined, opts.direct);
      try {
        setExit(await interactiveShell(target));
      } finally {
        await target.close();
      }
    });

  program
    .command("exec")
    .description("Run a command in a sandbox's workspace and exit with its exit code")
    .argument("<id>", "sandbox id")
    .argument("<command...>", "the command and its arguments, after --")
    .showHelpAfterError("(the remote command goes after --, e.g. sandboxer exec <id> -- ls -la)")
    .option("-i, --identity <file>", "private key to log in with (default: $SANDBOXER_SSH_IDENTITY, else ssh's own)")
    .option("-t, --tty", "allocate a terminal (interactive programs; stderr then joins stdout)")
    .option("--no-stdin", "do not forward standard input")
    .option("--direct", "connect straight to the VM instead of through the server's SSH gateway")
    .addHelpText(
      "after",
      "\nThe command runs as one argv (quoted for the remote shell); use sh -c for pipes and globs.\n" +
        "Examples:\n  sandboxer exec k3v9q2m7x1ab -- cabal build\n  sandboxer exec k3v9q2m7x1ab -- sh -c 'ls *.cabal | wc -l'",
    )
    .action(async (id: string, command: string[], opts: { identity?: string; tty?: boolean; stdin: boolean; direct?: boolean }) => {
      const identity = resolveIdentity(opts.identity);
      const code = await withInterrupt(async (signal) => {
        const target = await pinnedTarget(apiClient(), id, identity, signal, opts.direct);
        try {
          return await runRemoteCommand(target, command, { stdin: opts.stdin ? "inherit" : "ignore", tty: opts.tty, signal });
        } finally {
          await target.close();
        }
      });
      setExit(code);
    });

  program
    .command("run")
    .description("Remote build: create a sandbox, sync this directory into it, run a command there, destroy the sandbox")
    .argument("<profile>", "profile id of an SSH sandbox (see `sandboxer profiles`)")
    .argument("<command...>", "the command and its arguments, after --")
    .showHelpAfterError("(the remote command goes after --, e.g. sandboxer run <profile> -- make -j4)")
    .option("--keep", "keep the sandbox afterwards (print its id)")
    .option("--wait-destroy", "exit only once the sandbox is destroyed (default: once its destroy is queued; the server finishes it)")
    .option("--sandbox <id>", "use this existing (ready) sandbox instead of creating one; it is kept")
    .option("--ref <ref>", "git ref for the profile's `ref` input")
    .option("--input <key=value>", "a profile input; repeat for several", collect, [])
    .option("-i, --identity <file>", "private key to log in with (default: $SANDBOXER_SSH_IDENTITY, else ssh's own)")
    .option("-C, --dir <path>", "directory to sync (default: the current directory)")
    .option(
      "--delete",
      "with --sandbox: also delete files in the workspace that are not in the directory (ignored files are kept; always on for a sandbox run creates)",
    )
    .option("-q, --quiet", "no progress lines, only the command's output and errors")
    .option("--direct", "connect straight to the VM instead of through the server's SSH gateway")
    .addHelpText(
      "after",
      "\nThe directory is synced with rsync -az --checksum --no-inc-recursive (.gitignore honoured, .git left out; files deleted here are\n" +
        "deleted there, ignored paths are kept), so a warm-pool sandbox that already holds the repository only\n" +
        "receives what differs. The command runs in the workspace and its output streams back. The exit code is the command's. Ctrl-C stops the command and\n" +
        "still destroys the sandbox (exit 130). `run` exits once the destroy is queued: the server removes the workspace and\n" +
        "shows the outcome (sandboxer show <id>); --wait-destroy waits for it.\n" +
        "Examples:\n  sandboxer run profile.vm-haskell-build -- cabal build all\n  sandboxer run profile.vm-haskell-build --keep -- make test",
    )
    .action(
      async (
        profile: string,
        command: string[],
        opts: {
          keep?: boolean;
          waitDestroy?: boolean;
          sandbox?: string;
          ref?: string;
          input: string[];
          identity?: string;
          dir?: string;
          delete?: boolean;
          quiet?: boolean;
          direct?: boolean;
        },
      ) => {
        const client = apiClient();
        // Everything local is checked before a sandbox exists, so a typo costs nothing.
        const identity = resolveIdentity(opts.identity);
        const source = sourceDirectory(opts.dir);
        const input = inputMap(opts.input, opts.ref);
        const say = (line: string) => {
          if (!opts.quiet) note(line);
        };
        const startedAt = Date.now();
        const timings: string[] = [];
        const lap = (what: string, since: number) => timings.push(`${what} ${seconds(Date.now() - since)}`);
        let createdId: string | null = null;

        const code = await withInterrupt(async (signal) => {
          let target: PinnedTarget | undefined;
          // How to connect does not depend on the sandbox: asked while the create is under way.
          const route = opts.direct ? undefined : gatewayRoute(client, signal);
          route?.catch(() => {}); // awaited in pinnedTarget
          let view: SandboxView | undefined;
          try {
            let id = opts.sandbox;
            let t = Date.now();
            if (!id) {
              // Not abortable: once the server has answered, the id is needed to clean up.
              const created = await client.post<SandboxView>("/sandboxes", { profile, input });
              id = createdId = created.id;
              say(`▸ creating ${id} from ${profile}…${created.status === "ready" ? " (ready at once: a warm-pool sandbox)" : ""}`);
              // A warm-pool claim is ready in the response: nothing to follow.
              const final = created.status === "ready" ? created : await followSandbox(client, id, { show: !opts.quiet, signal });
              if (final.status !== "ready") {
                throw new CliError(
                  "SANDBOX_FAILED",
                  `Sandbox ${id} is ${final.status}${final.statusReason ? `: ${final.statusReason}` : ""}`,
                  EXIT.FAILURE,
                );
              }
              view = final;
              lap("create", t);
            }
            t = Date.now();
            target = await pinnedTarget(client, id, identity, signal, opts.direct, opts.quiet, { route, view });
            // One connection for the sync and the command (a handshake is most of an unchanged tree's sync).
            await target.startMaster(signal);
            say(`▸ syncing ${source} → ${target.destination}:${target.workspace}`);
            // A sandbox made for this run (fresh, or a warm-pool member holding the profile's repository) ends up
            // holding exactly the working tree: files deleted here are deleted there (ignored paths are kept).
            await syncDirectory(target, source, { deleteExtraneous: (opts.delete ?? false) || createdId !== null, signal });
            lap("sync", t);
            t = Date.now();
            say(`▸ running: ${shellCommand(command)}`);
            const exit = await runRemoteCommand(target, command, { stdin: "ignore", signal });
            lap("command", t);
            say(`${exit === 0 ? OK_MARK : FAIL_MARK} exit ${exit}`);
            return exit;
          } finally {
            await target?.close();
            if (createdId && !opts.keep) {
              const t = Date.now();
              const wait = opts.waitDestroy ?? false;
              if (await destroyCreated(client, createdId, { quiet: opts.quiet ?? false, wait }))
                lap(wait ? "destroy" : "destroy-queued", t);
            } else if (createdId) {
              say(`▸ kept ${createdId}: sandboxer ssh ${createdId} / sandboxer destroy ${createdId}`);
            }
            say(`▸ total ${seconds(Date.now() - startedAt)}${timings.length ? ` (${timings.join(", ")})` : ""}`);
          }
        });
        setExit(code);
      },
    );
}
