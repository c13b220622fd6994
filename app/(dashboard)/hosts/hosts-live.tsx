"use client";

// The hosts table and the cordoned hosts' drain reports, held in react-query's cache and kept current by
// the team stream: a `host.changed` notice carries the host as it is now (applied without a fetch), a
// sandbox change on a host refetches the list (its counts), a cordon change refetches the drain
// reports. Polling only while the stream is down (every 15 s).
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Server } from "lucide-react";
import { useEffect, useRef } from "react";

import type { HostDrainView } from "@/lib/manager/host-lifecycle";
import type { HostView } from "@/lib/manager/views";

import { fetchDrainReports, fetchHosts, hostKeys } from "../../lib/api-client";
import { applyHostToList } from "../../lib/live-cache";
import { FALLBACK_POLL_MS, useTeamEvent, useTeamStreamUp } from "../../lib/team-stream";
import { formatBytes } from "../../components/format-bytes";
import { LiveHostPool } from "../../components/live-pool";
import { RelativeTime } from "../../components/relative-time";
import { Badge, type BadgeProps } from "../../components/ui/badge";
import { EmptyState } from "../../components/ui/empty-state";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../../components/ui/table";
import { CheckHostButton, PinKeyButton } from "./host-actions";
import { ConfirmKeyDialog, CordonControls, EditHostButton } from "./host-lifecycle-actions";

const HEALTH_TONE: Record<string, BadgeProps["tone"]> = {
  healthy: "success",
  unknown: "neutral",
  unreachable: "danger",
  key_changed: "danger",
  disabled: "muted",
  unconfirmed: "warning",
};

export function HostsLive({
  initialHosts,
  initialDrains,
  admin,
}: {
  initialHosts: HostView[];
  initialDrains: HostDrainView[];
  admin: boolean;
}) {
  const queryClient = useQueryClient();
  const streamUp = useTeamStreamUp();
  const { data: hosts } = useQuery({
    queryKey: hostKeys.list(),
    queryFn: fetchHosts,
    initialData: initialHosts,
    refetchInterval: streamUp ? false : FALLBACK_POLL_MS,
    refetchOnWindowFocus: !streamUp,
  });
  const cordonedIds = hosts
    .filter((h) => h.cordoned)
    .map((h) => h.id)
    .sort();
  const initialIds = initialDrains.map((d) => d.hostId).sort();
  const { data: drains = [] } = useQuery({
    queryKey: hostKeys.drains(cordonedIds),
    queryFn: () => fetchDrainReports(cordonedIds),
    initialData: cordonedIds.join() === initialIds.join() ? initialDrains : undefined,
    refetchInterval: streamUp ? false : FALLBACK_POLL_MS,
    refetchOnWindowFocus: !streamUp,
  });

  // A burst of sandbox changes on hosts: one refetch of the list (its counts) and of the drain reports.
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => void (timer.current && clearTimeout(timer.current)), []);
  useTeamEvent((frame) => {
    if (frame.type === "team" && frame.data.topic === "host.changed") {
      const { hostId, host } = frame.data.data as { hostId: string; host?: HostView | null };
      if (host === undefined) void queryClient.invalidateQueries({ queryKey: hostKeys.all });
      else {
        queryClient.setQueryData<HostView[]>(hostKeys.list(), (list) => (list ? applyHostToList(list, hostId, host) : list));
        void queryClient.invalidateQueries({ queryKey: [...hostKeys.all, "drains"] });
      }
    } else if (frame.type === "sandbox" && frame.data.host) {
      timer.current ??= setTimeout(() => {
        timer.current = null;
        void queryClient.invalidateQueries({ queryKey: hostKeys.all });
      }, 300);
    }
  });

  return (
    <>
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
                  {h.editingSince ? (
                    <Badge tone="warning" className="ml-1" data-testid={`editing-${h.id}`}>
                      being changed
                    </Badge>
                  ) : null}
                  {h.editingSince ? (
                    <div className="mt-1 max-w-[18rem] text-xs text-muted-foreground">
                      An admin is changing where it is reached (since <RelativeTime iso={h.editingSince} />
                      ): no new sandboxes until it is done
                    </div>
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
      {drains.length > 0 ? (
        <section className="mt-8 space-y-3" data-testid="drains">
          <h2 className="text-lg font-semibold">Cordoned hosts: what still runs</h2>
          {drains.map((d) => (
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
    </>
  );
}
