// profiles and hosts: what can be created, and where.
import type { Command } from "commander";

import type { HostView, ProfileView } from "@/lib/manager/views";

import { EXIT } from "../exit-codes";
import { out, printJson, relative, table } from "../output";
import { apiClient } from "./shared";

function gib(bytes: number | null): string {
  return bytes === null ? "-" : `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

export function registerCatalogCommands(program: Command, setExit: (code: number) => void): void {
  program
    .command("profiles")
    .description("List the profiles sandboxes are created from")
    .option("--json", "print as JSON")
    .addHelpText("after", "\nExample:\n  sandboxer profiles")
    .action(async (opts: { json?: boolean }) => {
      const profiles = await apiClient().get<ProfileView[]>("/profiles");
      if (opts.json) printJson(profiles);
      else {
        out(
          table(
            ["PROFILE", "EXTENSION", "TARGET", "TTL", "INPUTS", "TITLE"],
            profiles.map((p) => [
              p.id,
              p.extension || "-",
              p.target ?? "-",
              p.ttl || "-",
              p.inputs.map((i) => (i.default !== undefined ? `${i.name}=${i.default}` : i.name)).join(",") || "-",
              p.usable ? p.title : `${p.title} (INVALID: ${p.errors[0]?.message ?? "see the dashboard"})`,
            ]),
          ),
        );
      }
      setExit(EXIT.OK);
    });

  program
    .command("hosts")
    .description("List the build hosts with their health, cordon state, load and image (* = added from the dashboard)")
    .option("--json", "print as JSON")
    .action(async (opts: { json?: boolean }) => {
      const hosts = await apiClient().get<HostView[]>("/hosts");
      if (opts.json) printJson(hosts);
      else {
        out(
          table(
            ["HOST", "ADDRESS", "HEALTH", "SANDBOXES", "FREE", "LOAD", "IMAGE", "CHECKED", "LABELS"],
            hosts.map((h) => [
              `${h.id}${h.source === "config" ? "" : "*"}`,
              `${h.user}@${h.address}:${h.port}`,
              h.cordoned ? `${h.health},${h.drainedAt ? "draining" : "cordoned"}` : h.health,
              `${h.sandboxes}/${h.capacity}`,
              gib(h.freeBytes),
              h.loadAverage === null ? "-" : `${h.loadAverage.toFixed(2)}/${h.cpuCount ?? "?"}`,
              h.image ? `${h.image.name}@${h.image.version}` : "-",
              relative(h.checkedAt),
              h.labels.join(",") || "-",
            ]),
          ),
        );
      }
      setExit(EXIT.OK);
    });
}
