// host add|edit|confirm-key|cordon|uncordon|drain|remove: a build host's lifecycle from the command line
// (admins). `host add` prints the key the VM offered; nothing is trusted until `host confirm-key`; so
// does `host edit` when the address or port changes.
import type { Command } from "commander";

import type { AddedHostView, EditedHostView, HostDrainView } from "@/lib/manager/host-lifecycle";
import type { HostView } from "@/lib/manager/views";

import { CliError, EXIT } from "../exit-codes";
import { out, printJson, table } from "../output";
import { apiClient } from "./shared";

function hostPath(id: string): string {
  return `/hosts/${encodeURIComponent(id)}`;
}

function int(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1)
      throw new CliError("BAD_OPTION", `${name} ${JSON.stringify(v)}: a positive whole number`, EXIT.USAGE);
    return n;
  };
}

function printDrain(r: HostDrainView): void {
  out(`${r.hostId}: ${r.cordoned ? `cordoned${r.cordonReason ? ` (${r.cordonReason})` : ""}` : "not cordoned"}`);
  out(r.summary);
  if (r.remaining.length)
    out(
      table(
        ["SANDBOX", "OWNER", "STATUS", "EXPIRES"],
        r.remaining.map((s) => [s.id, s.owner, s.status, s.expiresAt ?? "-"]),
      ),
    );
}

export function registerHostAdminCommands(program: Command, setExit: (code: number) => void): void {
  const host = program.command("host").description("Manage one build host (admins): add, edit, confirm its key, cordon, drain, remove");

  host
    .command("add <id>")
    .description("Add a build host: sand-boxer connects and prints the host key the VM offered (confirm it with `host confirm-key`)")
    .option("--address <address>", "the VM's address (omit with --tunnel-port)")
    .option("--port <port>", "SSH port", int("--port"))
    .option("--tunnel-port <port>", "reverse-tunnel port (the server connects to 127.0.0.1:<port>)", int("--tunnel-port"))
    .requiredOption("--user <user>", "the build user")
    .option("--title <title>", "a display name")
    .option("--label <label...>", "labels profiles select hosts by")
    .option("--capacity <n>", "most sandboxes at once", int("--capacity"))
    .option("--workspace-root <dir>", "where workspaces go (default /build)")
    .option("--marker-path <file>", "the VM's image marker (default /etc/sandboxer-image.json)")
    .option("--json", "print as JSON")
    .action(
      async (
        id: string,
        o: {
          address?: string;
          port?: number;
          tunnelPort?: number;
          user: string;
          title?: string;
          label?: string[];
          capacity?: number;
          workspaceRoot?: string;
          markerPath?: string;
          json?: boolean;
        },
      ) => {
        const added = await apiClient().post<AddedHostView>("/hosts", {
          id,
          address: o.address,
          port: o.port,
          tunnelPort: o.tunnelPort,
          user: o.user,
          title: o.title,
          labels: o.label,
          capacity: o.capacity,
          workspaceRoot: o.workspaceRoot,
          markerPath: o.markerPath,
        });
        if (o.json) printJson(added);
        else {
          out(`${added.hostId} offered the host key ${added.offeredHostKey}`);
          out("Compare it with the VM's own fingerprint (run on the VM itself):");
          out(`  ${added.verifyCommand}`);
          out(`then: sandboxer host confirm-key ${added.hostId} <SHA256:…>`);
        }
        setExit(EXIT.OK);
      },
    );

  host
    .command("edit <id>")
    .description(
      "Change a dashboard-added host's settings (hosts.yaml hosts are edited in the file). A new address or port prints the key " +
        "the VM now offers: confirm it with `host confirm-key` before sandboxes go there",
    )
    .option("--address <address>", "the VM's address")
    .option("--port <port>", "SSH port", int("--port"))
    .option(
      "--tunnel-port <port>",
      'reverse-tunnel port (127.0.0.1:<port>); "none" drops the tunnel (give --address, and --port unless 22)',
      (v: string) => (v === "none" ? null : int("--tunnel-port")(v)),
    )
    .option("--user <user>", "the build user")
    .option("--title <title>", "a display name")
    .option("--labels <labels>", 'labels, comma-separated (replaces them all; "" for none)')
    .option("--capacity <n>", "most sandboxes at once", int("--capacity"))
    .option("--workspace-root <dir>", "where workspaces go")
    .option("--marker-path <file>", "the VM's image marker")
    .option("--json", "print as JSON")
    .action(
      async (
        id: string,
        o: {
          address?: string;
          port?: number;
          tunnelPort?: number | null;
          user?: string;
          title?: string;
          labels?: string;
          capacity?: number;
          workspaceRoot?: string;
          markerPath?: string;
          json?: boolean;
        },
      ) => {
        const labels =
          o.labels === undefined
            ? undefined
            : o.labels
                .split(",")
                .map((l) => l.trim())
                .filter(Boolean);
        const edited = await apiClient().patch<EditedHostView>(hostPath(id), {
          address: o.address,
          port: o.port,
          tunnelPort: o.tunnelPort,
          user: o.user,
          title: o.title,
          labels,
          capacity: o.capacity,
          workspaceRoot: o.workspaceRoot,
          markerPath: o.markerPath,
        });
        if (o.json) printJson(edited);
        else {
          out(edited.changed.length ? `${edited.hostId}: changed ${edited.changed.join(", ")}` : `${edited.hostId}: nothing changed`);
          if (edited.keyConfirmation) {
            out(`At its new address it offered the host key ${edited.keyConfirmation.offeredHostKey}`);
            out("Compare it with the VM's own fingerprint (run on the VM itself):");
            out(`  ${edited.keyConfirmation.verifyCommand}`);
            out(`then: sandboxer host confirm-key ${edited.hostId} <SHA256:…>`);
          }
        }
        setExit(EXIT.OK);
      },
    );

  host
    .command("confirm-key <id> <fingerprint>")
    .description("Pin the key an added or rebuilt host offered, after reading its fingerprint on the VM")
    .action(async (id: string, fingerprint: string) => {
      const h = await apiClient().post<HostView>(`${hostPath(id)}/confirm-key`, { fingerprint });
      out(`${h.id}: pinned ${h.hostKey}; health check queued (${h.health})`);
      setExit(EXIT.OK);
    });

  for (const [verb, description] of [
    ["cordon", "No new sandboxes on the host; what runs there keeps running"],
    ["drain", "Cordon, destroy idle pool members, and list what still runs and when it expires"],
  ] as const) {
    host
      .command(`${verb} <id>`)
      .description(description)
      .option("--reason <text>", "shown on the host and to people whose creates wait")
      .option("--json", "print as JSON")
      .action(async (id: string, o: { reason?: string; json?: boolean }) => {
        const r = await apiClient().post<HostDrainView>(`${hostPath(id)}/${verb}`, { reason: o.reason });
        if (o.json) printJson(r);
        else printDrain(r);
        setExit(EXIT.OK);
      });
  }

  host
    .command("uncordon <id>")
    .description("The host takes new sandboxes again")
    .option("--json", "print as JSON")
    .action(async (id: string, o: { json?: boolean }) => {
      const r = await apiClient().post<HostDrainView>(`${hostPath(id)}/uncordon`, {});
      if (o.json) printJson(r);
      else printDrain(r);
      setExit(EXIT.OK);
    });

  host
    .command("remove <id>")
    .description("Remove a host added from the dashboard (refused while sandboxes live there: drain it first)")
    .action(async (id: string) => {
      await apiClient().delete(hostPath(id));
      out(`${id}: removed`);
      setExit(EXIT.OK);
    });
}
