// image list|build|log|cancel|channel|revoke: images and Packer builds from the command line
// (building, channels and revocation need the admin role). `image build --follow` streams the log.
import type { Command } from "commander";

import type { BuildLogLineView, ImageBuildView, ImageView } from "@/lib/manager/images";

import { EXIT } from "../exit-codes";
import { out, printJson, table } from "../output";
import { apiClient } from "./shared";

async function follow(id: string, setExit: (code: number) => void): Promise<void> {
  let after = 0;
  for (;;) {
    const r = await apiClient().get<{ lines: BuildLogLineView[]; build: ImageBuildView }>(
      `/builds/${encodeURIComponent(id)}/log?format=json&after=${after}`,
    );
    for (const l of r.lines) {
      out(l.message);
      after = l.id;
    }
    if (!["queued", "running"].includes(r.build.state)) {
      out(`build ${r.build.id}: ${r.build.state}${r.build.error ? ` — ${r.build.error}` : ""}`);
      if (r.build.offeredHostKey) out(`the VM now offers ${r.build.offeredHostKey}: confirm it with \`sandboxer host confirm-key\``);
      setExit(r.build.state === "succeeded" ? EXIT.OK : EXIT.FAILURE);
      return;
    }
    if (r.lines.length === 0) await new Promise((res) => setTimeout(res, 500));
  }
}

export function registerImageCommands(program: Command, setExit: (code: number) => void): void {
  const image = program.command("image").description("Build VM images (images/<name>.yaml + Packer), channels and revocation");

  image
    .command("list")
    .description("Images, their channels and built versions with the hosts running each")
    .option("--json", "print as JSON")
    .action(async (o: { json?: boolean }) => {
      const images = await apiClient().get<ImageView[]>("/images");
      if (o.json) printJson(images);
      else
        out(
          table(
            ["IMAGE", "VERSION", "CHANNELS", "HOSTS", "REVOKED"],
            images.flatMap((i) =>
              i.versions.length
                ? i.versions.map((v) => [
                    i.name,
                    v.version,
                    v.channels.join(",") || "-",
                    v.hosts.join(",") || "-",
                    v.revokedAt ? "yes" : "-",
                  ])
                : [[i.name, "-", "-", "-", "-"]],
            ),
          ),
        );
      setExit(EXIT.OK);
    });

  image
    .command("build <name>")
    .description("Start a packer build (admins); --host rebuilds that registered host in place")
    .option("--host <hostId>", "rebuild this host in place (null builder through sand-boxer's verified tunnel)")
    .option("--follow", "stream the build log until it ends (exit 1 unless it succeeded)")
    .action(async (name: string, o: { host?: string; follow?: boolean }) => {
      const b = await apiClient().post<ImageBuildView>(`/images/${encodeURIComponent(name)}/builds`, { hostId: o.host });
      out(`build ${b.id}: ${b.image} ${b.version} ${b.state}`);
      if (o.follow) await follow(b.id, setExit);
      else setExit(EXIT.OK);
    });

  image
    .command("log <buildId>")
    .description("Print a build's log, following it while it runs")
    .action((id: string) => follow(id, setExit));

  image
    .command("cancel <buildId>")
    .description("Cancel a build (admins): Packer is killed")
    .action(async (id: string) => {
      const b = await apiClient().post<ImageBuildView>(`/builds/${encodeURIComponent(id)}/cancel`, {});
      out(`build ${b.id}: ${b.state}`);
      setExit(EXIT.OK);
    });

  image
    .command("channel <name> <channel> <version>")
    .description("Point a channel of the image (stable, canary, …) at a built version (admins)")
    .action(async (name: string, channel: string, version: string) => {
      await apiClient().post(`/images/${encodeURIComponent(name)}/channels`, { channel, version });
      out(`${name}: ${channel} → ${version}`);
      setExit(EXIT.OK);
    });

  image
    .command("revoke <name> <version>")
    .description("Revoke a version (admins): profiles stop getting it and every host running it is drained")
    .option("--reason <text>", "why (shown on the drained hosts)")
    .action(async (name: string, version: string, o: { reason?: string }) => {
      const r = await apiClient().post<{ drained: string[] }>(`/images/${encodeURIComponent(name)}/revoke`, { version, reason: o.reason });
      out(`${name} ${version} revoked; drained: ${r.drained.join(", ") || "no hosts"}`);
      setExit(EXIT.OK);
    });
}
