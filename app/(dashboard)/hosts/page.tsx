import type { Metadata } from "next";

import { can } from "@/lib/auth/policy";
import { requirePageActor } from "@/lib/auth/guards";
import { hostDrainReport } from "@/lib/manager/host-lifecycle";
import { listOrphans } from "@/lib/manager/host-ops";
import { manager } from "@/lib/manager/instance";
import { teamStreamCursor } from "@/lib/manager/team-stream";

import { RefreshOnStream, StreamFrom } from "../../components/live-updates";
import { PageHeader } from "../../components/page-header";
import { RelativeTime } from "../../components/relative-time";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../../components/ui/table";
import { OrphanActions } from "./host-actions";
import { AddHostButton } from "./host-lifecycle-actions";
import { HostsLive } from "./hosts-live";

export const metadata: Metadata = { title: "Hosts" };

export default async function HostsPage() {
  const actor = await requirePageActor({ next: "/hosts" });
  const admin = can(actor, "host.manage");
  // Read before the data: the stream replays every change after it (pool counts follow it live).
  const cursor = await teamStreamCursor(manager());
  const [hosts, orphans] = await Promise.all([manager().listHosts(), listOrphans(manager())]);
  const drains = await Promise.all(hosts.filter((h) => h.cordoned).map((h) => hostDrainReport(manager(), h.id)));
  return (
    <>
      <StreamFrom after={cursor} />
      {/* The orphan workspaces below are server-rendered (a health check finds them): re-rendered on a host notice. */}
      <RefreshOnStream topics={["host.changed"]} />
      <PageHeader
        title="Hosts"
        description="Build VMs sandboxes are created on: added here by an admin, or listed in hosts.yaml (which wins on conflict). Health, free space, load and image are checked periodically."
      />
      {admin ? (
        <div className="mb-4 flex justify-end">
          <AddHostButton />
        </div>
      ) : null}
      <HostsLive initialHosts={hosts} initialDrains={drains} admin={admin} />
      {orphans.length > 0 ? (
        <section className="mt-8 space-y-3" data-testid="orphans">
          <h2 className="text-lg font-semibold">Orphan workspaces</h2>
          <p className="text-sm text-muted-foreground">
            Workspace directories found on a host that no sandbox record accounts for (left by hand, or by a lost record). Nothing is
            removed automatically: an admin adopts one (it becomes a sandbox owned by them) or cleans it up.
          </p>
          <Table>
            <TableHeader>
              <TableRow>
                <TableHead>Host</TableHead>
                <TableHead>Path</TableHead>
                <TableHead>First seen</TableHead>
                {admin ? <TableHead className="text-right">Actions</TableHead> : null}
              </TableRow>
            </TableHeader>
            <TableBody>
              {orphans.map((o) => (
                <TableRow key={o.id} data-testid={`orphan-${o.name}`}>
                  <TableCell>{o.hostId}</TableCell>
                  <TableCell className="break-all font-mono text-xs">{o.path}</TableCell>
                  <TableCell>
                    <RelativeTime iso={o.firstSeenAt} />
                  </TableCell>
                  {admin ? (
                    <TableCell className="text-right">
                      <OrphanActions orphanId={o.id} path={o.path} host={o.hostId} />
                    </TableCell>
                  ) : null}
                </TableRow>
              ))}
            </TableBody>
          </Table>
        </section>
      ) : null}
    </>
  );
}
