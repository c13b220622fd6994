import { Layers } from "lucide-react";
import type { Metadata } from "next";
import Link from "next/link";

import { can } from "@/lib/auth/policy";
import { requirePageActor } from "@/lib/auth/guards";
import { listImageBuilds, listImages } from "@/lib/manager/images";
import { manager } from "@/lib/manager/instance";

import { PageHeader } from "../../components/page-header";
import { RelativeTime } from "../../components/relative-time";
import { Badge } from "../../components/ui/badge";
import { EmptyState } from "../../components/ui/empty-state";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../../components/ui/table";
import { BuildButton, VersionActions } from "./image-actions";

export const metadata: Metadata = { title: "Images" };

export default async function ImagesPage() {
  const actor = await requirePageActor({ next: "/images" });
  const admin = can(actor, "host.manage");
  const [images, builds, hosts] = await Promise.all([listImages(manager()), listImageBuilds(manager()), manager().listHosts()]);
  const rebuildable = hosts.filter((h) => h.health !== "unconfirmed").map((h) => ({ id: h.id, title: h.title }));
  return (
    <>
      <PageHeader
        title="Images"
        description="Build VM images from images/<name>.yaml and their Packer templates: versions sand-boxer built, channels that point at them, and the hosts running each (read from each VM's marker)."
      />
      {images.length === 0 ? (
        <EmptyState
          icon={<Layers />}
          title="No images"
          description="Add images/<name>.yaml and its Packer template (see docs/images.md)."
        />
      ) : (
        <div className="space-y-8">
          {images.map((img) => (
            <section key={img.name} className="space-y-3" data-testid={`image-${img.name}`}>
              <div className="flex flex-wrap items-center justify-between gap-2">
                <div>
                  <h2 className="text-lg font-semibold">{img.title}</h2>
                  <div className="font-mono text-xs text-muted-foreground">
                    {img.name} · {img.template || "no template"}
                    {img.channels.length ? ` · ${img.channels.map((c) => `${c.channel} → ${c.version}`).join(", ")}` : ""}
                  </div>
                  {img.problem ? <div className="text-xs text-destructive">{img.problem}</div> : null}
                </div>
                {admin && !img.problem ? <BuildButton image={img.name} hosts={rebuildable} /> : null}
              </div>
              {img.versions.length ? (
                <Table>
                  <TableHeader>
                    <TableRow>
                      <TableHead>Version</TableHead>
                      <TableHead>Built</TableHead>
                      <TableHead>Channels</TableHead>
                      <TableHead>Hosts</TableHead>
                      <TableHead>Artifacts</TableHead>
                      {admin ? <TableHead className="text-right">Actions</TableHead> : null}
                    </TableRow>
                  </TableHeader>
                  <TableBody>
                    {img.versions.map((v) => (
                      <TableRow key={v.version}>
                        <TableCell className="font-mono">
                          {v.version} {v.revokedAt ? <Badge tone="danger">revoked</Badge> : null}
                          {v.revokeReason ? <div className="text-xs text-muted-foreground">{v.revokeReason}</div> : null}
                        </TableCell>
                        <TableCell className="text-xs">
                          <RelativeTime iso={v.createdAt} /> {v.createdBy ? `by ${v.createdBy}` : ""}
                        </TableCell>
                        <TableCell className="text-xs">{v.channels.join(", ") || "—"}</TableCell>
                        <TableCell className="text-xs">{v.hosts.join(", ") || "—"}</TableCell>
                        <TableCell className="max-w-[16rem] break-all font-mono text-xs">{v.artifacts.join(", ") || "—"}</TableCell>
                        {admin ? (
                          <TableCell className="text-right">
                            <VersionActions image={img.name} version={v.version} revoked={v.revokedAt !== null} />
                          </TableCell>
                        ) : null}
                      </TableRow>
                    ))}
                  </TableBody>
                </Table>
              ) : (
                <p className="text-sm text-muted-foreground">No version built yet.</p>
              )}
            </section>
          ))}
        </div>
      )}
      {builds.length ? (
        <section className="mt-10 space-y-3">
          <h2 className="text-lg font-semibold">Recent builds</h2>
          <Table>
            <TableHeader>
              <TableRow>
                <TableHead>Build</TableHead>
                <TableHead>Image</TableHead>
                <TableHead>State</TableHead>
                <TableHead>Started</TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {builds.map((b) => (
                <TableRow key={b.id}>
                  <TableCell>
                    <Link className="font-mono text-xs underline" href={`/images/builds/${b.id}`}>
                      {b.id}
                    </Link>
                  </TableCell>
                  <TableCell className="font-mono text-xs">
                    {b.image} {b.version}
                    {b.hostId ? ` on ${b.hostId}` : ""}
                  </TableCell>
                  <TableCell>
                    <Badge tone={b.state === "succeeded" ? "success" : b.state === "failed" ? "danger" : "neutral"}>{b.state}</Badge>
                  </TableCell>
                  <TableCell className="text-xs">
                    <RelativeTime iso={b.createdAt} />
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </section>
      ) : null}
    </>
  );
}
