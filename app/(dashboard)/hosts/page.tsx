import { Server } from "lucide-react";
import type { Metadata } from "next";

import { requirePageActor } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";

import { formatBytes } from "../../components/format-bytes";
import { PageHeader } from "../../components/page-header";
import { Badge, type BadgeProps } from "../../components/ui/badge";
import { EmptyState } from "../../components/ui/empty-state";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../../components/ui/table";

export const metadata: Metadata = { title: "Hosts" };

const HEALTH_TONE: Record<string, BadgeProps["tone"]> = {
  healthy: "success",
  unknown: "neutral",
  unreachable: "danger",
  key_changed: "danger",
  disabled: "muted",
};

export default async function HostsPage() {
  await requirePageActor({ next: "/hosts" });
  const hosts = await manager().listHosts();
  return (
    <>
      <PageHeader title="Hosts" description="Build VMs sandboxes are created on, from hosts.yaml. Health and free space are checked periodically." />
      {hosts.length === 0 ? (
        <EmptyState
          icon={<Server />}
          title="No build hosts"
          description="Local sandboxes need none. To attach build VMs over SSH, list them in hosts.yaml (see docs/runbooks/vm-haskell-build.md) and restart."
        />
      ) : (
        <Table data-testid="hosts-table">
          <TableHeader>
            <TableRow>
              <TableHead>Host</TableHead>
              <TableHead>Address</TableHead>
              <TableHead>Health</TableHead>
              <TableHead>Sandboxes</TableHead>
              <TableHead>Free under root</TableHead>
              <TableHead>Host key</TableHead>
              <TableHead>Tunnel port</TableHead>
            </TableRow>
          </TableHeader>
          <TableBody>
            {hosts.map((h) => (
              <TableRow key={h.id} data-testid={`host-${h.id}`}>
                <TableCell>
                  <div className="font-medium">{h.title}</div>
                  <div className="text-xs text-muted-foreground">{h.labels.join(", ")}</div>
                </TableCell>
                <TableCell className="font-mono text-xs">
                  {h.user}@{h.address}:{h.port}
                  <div className="text-muted-foreground">{h.workspaceRoot}</div>
                </TableCell>
                <TableCell>
                  <Badge tone={HEALTH_TONE[h.health] ?? "neutral"}>{h.health.replace("_", " ")}</Badge>
                  {h.healthDetail ? <div className="mt-1 max-w-[18rem] text-xs text-muted-foreground">{h.healthDetail}</div> : null}
                </TableCell>
                <TableCell className="tabular">
                  {h.sandboxes} / {h.capacity}
                </TableCell>
                <TableCell className="tabular">{formatBytes(h.freeBytes)}</TableCell>
                <TableCell className="max-w-[14rem] break-all font-mono text-xs">{h.hostKey}</TableCell>
                <TableCell className="tabular">{h.tunnelPort ?? "—"}</TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
    </>
  );
}
