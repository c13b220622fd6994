import { Server } from "lucide-react";
import type { Metadata } from "next";

import { can } from "@/lib/auth/policy";
import { requirePageActor } from "@/lib/auth/guards";
import { hostDrainReport } from "@/lib/manager/host-lifecycle";
import { listOrphans } from "@/lib/manager/host-ops";
import { manager } from "@/lib/manager/instance";
import { teamStreamCursor } from "@/lib/manager/team-stream";

import { formatBytes } from "../../components/format-bytes";
import { LiveHostPool } from "../../components/live-pool";
import { RefreshOnStream, StreamFrom } from "../../components/live-updates";
import { PageHeader } from "../../components/page-header";
import { RelativeTime } from "../../components/relative-time";
import { Badge, type BadgeProps } from "../../components/ui/badge";
import { EmptyState } from "../../components/ui/empty-state";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../../components/ui/table";
import { CheckHostButton, OrphanActions, PinKeyButton } from "./host-actions";
import { AddHostButton, ConfirmKeyDialog, CordonControls, EditHostButton } from "./host-lifecycle-actions";

export const metadata: Metadata = { title: "Hosts" };

const HEALTH_TONE: Record<string, BadgeProps["tone"]> = {
  healthy: "success",
  unknown: "neutral",
  unreachable: "danger",
  key_changed: "danger",
  disabled: "muted",
  unconfirmed: "warning",
};

export default async function HostsPage() {
  const actor = await requirePageActor({ next: "/hosts" });
  const admin = can(actor, "host.manage");
  // Read before the data: the stream replays every change after it (pool counts follow it live).
  const cursor = await teamStreamCursor(manager());
  const [hosts, orphans] = await Promise.all([manager().listHosts(), listOrphans(manager())]);
  const drains = new Map(
    await Promise.all(hosts.filter((h) => h.cordoned).map(async (h) => [h.id, await hostDrainReport(manager(), h.id)] as const)),
  );
  return (
    <>
      <StreamFrom after={cursor} />
      <RefreshOnStream topics={["host.changed"]} sandboxes />
      <PageHeader
        title="Hosts"
        description="Build VMs sandboxes are created on: added here by an admin, or listed in hosts.yaml (which wins on conflict). Health, free space, load and image are checked periodically."
      />
      {admin ? (
        <div className="mb-4 flex justify-end">
          <AddHostButton />
        </div>
      ) : null}
      {hosts.length === 0 ? (
        <EmptyState
          icon={<Server />}
          title="No build hosts"
          description="Local sandboxes need none. To attach a build VM over SSH, press Add host (admins), or list it in hosts.yaml and restart (see docs/runbooks/vm-haskell-build.md)."
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
              <TableHead>Load</TableHead>
              <TableHead>Image</TableHead>
              <TableHead>Host key</TableHead>
              <TableHead>Tunnel port</TableHead>
              {admin ? <TableHead className="text-right">Actions</TableHead> : null}
            </TableRow>
          </TableHeader>
          <TableBody>
            {hosts.map((h) => (
              <TableRow key={h.id} data-testid={`host-${h.id}`}>
                <TableCell>
                  <div className="font-medium">{h.title}</div>
                  <div className="font-mono text-xs text-muted-foreground">
                    {h.id}{" "}
                    <span
                      title={h.source === "config" ? "From hosts.yaml: edit it there (the file wins)" : "Added from the dashboard"}
                      data-testid={`source-${h.id}`}
                    >
                      · {h.source === "config" ? "hosts.yaml (edit the file)" : "dashboard"}
                    </span>
                  </div>
                  {h.labels.length ? <div className="text-xs text-muted-foreground">labels: {h.labels.join(", ")}</div> : null}
                </TableCell>
                <TableCell className="font-mono text-xs">
                  {h.user}@{h.address}:{h.port}
                  <div className="text-muted-foreground">{h.workspaceRoot}</div>
                </TableCell>
                <TableCell>
                  <Badge tone={HEALTH_TONE[h.health] ?? "neutral"}>{h.health.replace("_", " ")}</Badge>
                  {h.cordoned ? (
                    <Badge tone="warning" className="ml-1" data-testid={`cordoned-${h.id}`}>
                      {h.drainedAt ? "draining" : "cordoned"}
                    </Badge>
                  ) : null}
                  {h.cordoned && h.cordonReason ? (
                    <div className="mt-1 max-w-[18rem] text-xs text-muted-foreground">{h.cordonReason}</div>
                  ) : null}
                  {h.healthDetail ? <div className="mt-1 max-w-[18rem] text-xs text-muted-foreground">{h.healthDetail}</div> : null}
                  <div className="mt-1 text-xs text-muted-foreground">
                    {h.checkedAt ? (
                      <>
                        checked <RelativeTime iso={h.checkedAt} />
                      </>
                    ) : (
                      "not checked yet"
                    )}
                  </div>
                </TableCell>
                <TableCell className="tabular">
                  {h.sandboxes} / {h.capacity}
                  <LiveHostPool hostId={h.id} pool={h.pool} />
                </TableCell>
                <TableCell className="tabular">{formatBytes(h.freeBytes)}</TableCell>
                <TableCell className="tabular text-xs">
                  {h.loadAverage === null ? "—" : `${h.loadAverage.toFixed(2)} / ${h.cpuCount ?? "?"} CPU`}
                  {h.freeMemoryBytes !== null ? <div className="text-muted-foreground">{formatBytes(h.freeMemoryBytes)} mem</div> : null}
                </TableCell>
                <TableCell className="text-xs" data-testid={`image-${h.id}`}>
                  {h.image ? (
                    <span className="font-mono">
                      {h.image.name} {h.image.version}
                    </span>
                  ) : (
                    <span className="text-muted-foreground" title={h.imageDetail ?? undefined}>
                      unknown
                    </span>
                  )}
                </TableCell>
                <TableCell className="max-w-[14rem] break-all font-mono text-xs">
                  {h.hostKey || <span className="font-sans text-muted-foreground">from known_hosts, not yet verified</span>}
                </TableCell>
                <TableCell className="tabular">{h.tunnelPort ?? "—"}</TableCell>
                {admin ? (
                  <TableCell className="text-right">
                    <div className="flex flex-col items-end gap-2">
                      <CheckHostButton hostId={h.id} />
                      {h.health === "key_changed" && h.offeredHostKey && !h.knownHostsFile ? (
                        <PinKeyButton hostId={h.id} pinned={h.hostKey} offered={h.offeredHostKey} />
                      ) : null}
                      {h.health === "key_changed" && h.knownHostsFile ? (
                        <p className="max-w-[18rem] text-right text-xs text-muted-foreground" data-testid={`known-hosts-${h.id}`}>
                          Trusted through <code className="font-mono">{h.knownHostsFile}</code>, so no key is pinned here: verify the new
                          key on the VM, then put it in that file (it is re-read at every connection).
                          {h.offeredHostKey ? (
                            <>
                              {" "}
                              It offers <code className="break-all font-mono">{h.offeredHostKey}</code>.
                            </>
                          ) : null}
                        </p>
                      ) : null}
                      {h.health === "unconfirmed" && h.offeredHostKey ? (
                        <ConfirmKeyDialog hostId={h.id} offered={h.offeredHostKey} trigger />
                      ) : null}
                      {h.source !== "config" ? <EditHostButton host={h} /> : null}
                      <CordonControls hostId={h.id} cordoned={h.cordoned} removable={h.source !== "config"} />
                    </div>
                  </TableCell>
                ) : null}
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
      {drains.size > 0 ? (
        <section className="mt-8 space-y-3" data-testid="drains">
          <h2 className="text-lg font-semibold">Cordoned hosts: what still runs</h2>
          {[...drains.values()].map((d) => (
            <div key={d.hostId} className="space-y-1" data-testid={`drain-report-${d.hostId}`}>
              <p className="text-sm">{d.summary}</p>
              {d.remaining.length ? (
                <ul className="ml-4 list-disc text-xs text-muted-foreground">
                  {d.remaining.map((r) => (
                    <li key={r.id}>
                      <a className="font-mono underline" href={`/sandboxes/${r.id}`}>
                        {r.id}
                      </a>{" "}
                      ({r.owner}, {r.status})
                      {r.expiresAt ? (
                        <>
                          {" "}
                          — expires <RelativeTime iso={r.expiresAt} />
                        </>
                      ) : null}
                    </li>
                  ))}
                </ul>
              ) : null}
            </div>
          ))}
        </section>
      ) : null}
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
