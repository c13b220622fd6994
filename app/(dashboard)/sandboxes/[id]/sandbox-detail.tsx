"use client";

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { AlertTriangle, Clock, Hourglass } from "lucide-react";
import { useEffect, useRef, useState, useTransition } from "react";

import { expiryMeaning, isTransient } from "@/lib/manager/states";
import type { SandboxStatus } from "@/lib/manager/states";
import type { SandboxDetailView, SandboxEventView } from "@/lib/manager/views";

import { fetchSandbox, fetchSandboxEvents, fetchSandboxServices, sandboxKeys } from "../../../lib/api-client";
import { applySandboxToDetail } from "../../../lib/live-cache";
import { FALLBACK_POLL_MS, useTeamStreamUp } from "../../../lib/team-stream";
import { RelativeTime } from "../../../components/relative-time";
import { StatusBadge } from "../../../components/status-badge";
import { Button } from "../../../components/ui/button";
import { Card, CardContent, CardHeader, CardTitle } from "../../../components/ui/card";
import { cn } from "../../../components/ui/cn";
import { CopyField } from "../../../components/ui/copy-field";
import { extendSandboxAction } from "../../actions";
import { DestroyButton } from "../../_components/destroy-dialog";

/**
 * The sandbox's log: the server render's lines, then every line the team stream brings (components/
 * live-updates.tsx appends to this query) whatever the status, so a destroy's lines appear even when
 * it finishes before this page saw `destroying`. Fetched only while the stream is down.
 */
function useLog(id: string, initial: SandboxEventView[], streamUp: boolean) {
  const { data } = useQuery({
    queryKey: sandboxKeys.events(id),
    queryFn: async () => (await fetchSandboxEvents(id)).events,
    initialData: initial,
    refetchInterval: streamUp ? false : FALLBACK_POLL_MS,
    refetchOnWindowFocus: !streamUp,
  });
  return data;
}

export function SandboxDetail({ initial, initialEvents }: { initial: SandboxDetailView; initialEvents: SandboxEventView[] }) {
  const queryClient = useQueryClient();
  const streamUp = useTeamStreamUp();
  const { data: s } = useQuery({
    queryKey: sandboxKeys.detail(initial.id),
    queryFn: () => fetchSandbox(initial.id),
    initialData: initial,
    refetchInterval: streamUp ? false : FALLBACK_POLL_MS,
    refetchOnWindowFocus: !streamUp,
  });
  const transient = isTransient(s.status);
  const expiry = expiryMeaning(s.status);
  const events = useLog(s.id, initialEvents, streamUp);
  const logRef = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = logRef.current;
    if (el && el.scrollHeight - el.scrollTop - el.clientHeight < 80) el.scrollTop = el.scrollHeight;
  }, [events.length]);

  const h = s.handle;
  const logLines = events.filter((e) => e.type === "log" || e.type === "state");

  return (
    <div className="space-y-6">
      <div className="flex flex-wrap items-start justify-between gap-4">
        <div>
          <div className="flex items-center gap-3">
            <h1 className="font-mono text-2xl font-semibold tracking-tight">{s.id}</h1>
            <StatusBadge status={s.status} />
          </div>
          <p className="mt-1 text-sm text-muted-foreground">
            {s.profileTitle} · owned by {s.owner.email} · created <RelativeTime iso={s.createdAt} />
          </p>
        </div>
        <div className="flex items-center gap-2">
          {s.extendableMs > 0 && s.permissions?.extend ? <ExtendButton id={s.id} /> : null}
          {s.permissions?.destroy && s.status !== "destroyed" && s.status !== "destroying" ? (
            <DestroyButton
              sandbox={s}
              size="default"
              label={s.status === "destroy_failed" ? "Retry destroy" : "Destroy"}
              onDestroyed={(v) =>
                queryClient.setQueryData<SandboxDetailView>(sandboxKeys.detail(s.id), (d) => (d ? applySandboxToDetail(d, v) : d))
              }
            />
          ) : null}
        </div>
      </div>

      {s.status === "failed" || s.status === "destroy_failed" ? (
        <div
          role="alert"
          className="flex gap-3 rounded-lg border border-destructive/40 bg-destructive/5 p-4 text-sm"
          data-testid="failure-reason"
        >
          <AlertTriangle className="mt-0.5 size-4 shrink-0 text-destructive" aria-hidden />
          <div>
            <p className="font-medium">
              {s.status === "failed" ? "Create failed" : "Destroy failed — nothing was reported as removed; Retry when the cause is fixed"}
            </p>
            <p className="mt-1 break-words text-muted-foreground">{s.statusReason}</p>
          </div>
        </div>
      ) : null}
      {s.stuck && !s.queue ? (
        <div
          role="status"
          className="flex gap-3 rounded-lg border border-destructive/40 bg-destructive/5 p-4 text-sm"
          data-testid="stuck-reason"
        >
          <AlertTriangle className="mt-0.5 size-4 shrink-0 text-destructive" aria-hidden />
          <div>
            <p className="font-medium">{s.status === "destroying" ? "Destroy" : "Create"} not moving</p>
            <p className="mt-1 break-words text-muted-foreground">{s.stuck.reason}</p>
          </div>
        </div>
      ) : null}
      {s.queue ? (
        <div className="flex gap-3 rounded-lg border border-border bg-muted/40 p-4 text-sm" data-testid="queue-reason">
          <Hourglass className="mt-0.5 size-4 shrink-0" aria-hidden />
          <div>
            <p className="font-medium">Pending — number {s.queue.position} in the queue</p>
            <p className="mt-1 text-muted-foreground">{s.queue.reason}</p>
          </div>
        </div>
      ) : null}

      <div className="grid gap-6 lg:grid-cols-3">
        <Card className="lg:col-span-2">
          <CardHeader>
            <CardTitle>Workspace</CardTitle>
          </CardHeader>
          <CardContent className="space-y-4 text-sm">
            {h ? (
              <>
                <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-2" data-testid="handle">
                  <dt className="text-muted-foreground">Host</dt>
                  <dd className="font-mono">{h.address ?? h.target}</dd>
                  {h.port ? (
                    <>
                      <dt className="text-muted-foreground">SSH port</dt>
                      <dd className="font-mono">{h.port}</dd>
                    </>
                  ) : null}
                  {h.user ? (
                    <>
                      <dt className="text-muted-foreground">User</dt>
                      <dd className="font-mono">{h.user}</dd>
                    </>
                  ) : null}
                  <dt className="text-muted-foreground">Workspace</dt>
                  <dd className="break-all font-mono" data-testid="workspace-path">
                    {h.workspacePath ?? "—"}
                  </dd>
                  {h.hostKey ? (
                    <>
                      <dt className="text-muted-foreground">Host key</dt>
                      <dd className="break-all font-mono text-xs">{h.hostKey}</dd>
                    </>
                  ) : null}
                </dl>
                {h.sshCommand && s.status === "ready" ? (
                  <div className="space-y-1">
                    <p className="text-xs text-muted-foreground">
                      Straight to the VM (your key in its authorized_keys; the host key is pinned):
                    </p>
                    <CopyField value={h.sshCommand} label="ssh command" testId="ssh-command" />
                  </div>
                ) : null}
              </>
            ) : (
              <p className="text-muted-foreground">Nothing has been created yet.</p>
            )}
          </CardContent>
        </Card>
        <Card>
          <CardHeader>
            <CardTitle>Timeline</CardTitle>
          </CardHeader>
          <CardContent>
            <ol className="space-y-3 text-sm" data-testid="timeline">
              {s.timeline.map((t) => (
                <li key={t.id} className="flex gap-3">
                  <Clock className="mt-0.5 size-4 shrink-0 text-muted-foreground" aria-hidden />
                  <div className="min-w-0">
                    <p className="font-medium">{t.status.replace("_", " ") || "event"}</p>
                    <p className="break-words text-xs text-muted-foreground">{t.message}</p>
                    <p className="text-xs text-muted-foreground">
                      <time dateTime={t.at}>{new Date(t.at).toLocaleString()}</time>
                    </p>
                  </div>
                </li>
              ))}
            </ol>
            <dl className="mt-4 grid grid-cols-[auto_1fr] gap-x-3 gap-y-1 border-t border-border pt-4 text-xs">
              {expiry === "ends" ? (
                <>
                  <dt className="text-muted-foreground">Expires</dt>
                  <dd data-testid="expires">
                    <RelativeTime iso={s.expiresAt} mode="until" />
                  </dd>
                </>
              ) : expiry === "cleanup" ? (
                <>
                  <dt className="text-muted-foreground">Removed automatically</dt>
                  <dd data-testid="expires">
                    <RelativeTime iso={s.expiresAt} mode="in" />
                  </dd>
                </>
              ) : null}
              <dt className="text-muted-foreground">Extension</dt>
              <dd className="font-mono">{s.extensionId}</dd>
            </dl>
          </CardContent>
        </Card>
      </div>

      {s.extensionId === "ext.compose-ssh" ? <ServicesCard id={s.id} status={s.status} /> : null}

      <Card>
        <CardHeader className="flex-row items-center justify-between">
          <CardTitle>Log</CardTitle>
          {transient && streamUp ? <span className="text-xs text-muted-foreground">live</span> : null}
        </CardHeader>
        <CardContent>
          <div
            ref={logRef}
            className="h-80 overflow-auto rounded-md border border-border bg-muted/40 p-3 font-mono text-xs leading-relaxed"
            data-testid="log"
            aria-live="polite"
          >
            {logLines.length === 0 ? <p className="text-muted-foreground">No log lines yet.</p> : null}
            {logLines.map((e) => (
              <div
                key={e.id}
                className={cn(
                  "whitespace-pre-wrap break-all",
                  e.level === "error" && "text-destructive",
                  e.level === "warn" && "text-amber-600 dark:text-amber-400",
                  e.type === "state" && "font-semibold",
                )}
              >
                <span className="select-none text-muted-foreground">{new Date(e.at).toLocaleTimeString()} </span>
                {e.message}
              </div>
            ))}
          </div>
        </CardContent>
      </Card>
    </div>
  );
}

function ExtendButton({ id }: { id: string }) {
  const queryClient = useQueryClient();
  const [pending, startTransition] = useTransition();
  const [error, setError] = useState<string | null>(null);
  return (
    <div className="flex items-center gap-2">
      {error ? <span className="text-xs text-destructive">{error}</span> : null}
      <Button
        variant="outline"
        disabled={pending}
        onClick={() =>
          startTransition(async () => {
            const r = await extendSandboxAction({ id, by: "2h" });
            if (!r.ok) setError(r.message);
            else await queryClient.invalidateQueries({ queryKey: sandboxKeys.detail(id) });
          })
        }
      >
        Extend 2h
      </Button>
    </div>
  );
}

const SERVICES_ASKABLE: ReadonlySet<SandboxStatus> = new Set<SandboxStatus>(["ready", "missing", "destroy_failed"]);

/** Each service of a compose sandbox as its host reports it now: state, health, published ports, a failed one's last lines. */
function ServicesCard({ id, status }: { id: string; status: SandboxStatus }) {
  const askable = SERVICES_ASKABLE.has(status);
  const { data, error, isFetching, refetch } = useQuery({
    queryKey: sandboxKeys.services(id),
    queryFn: () => fetchSandboxServices(id),
    enabled: askable,
    refetchInterval: 30_000,
  });
  return (
    <Card data-testid="services">
      <CardHeader className="flex-row items-center justify-between">
        <CardTitle>Services</CardTitle>
        {askable ? (
          <Button variant="outline" size="sm" disabled={isFetching} onClick={() => void refetch()}>
            {isFetching ? "Checking…" : "Check now"}
          </Button>
        ) : null}
      </CardHeader>
      <CardContent className="space-y-3 text-sm">
        {!askable ? <p className="text-muted-foreground">Shown once the sandbox is ready.</p> : null}
        {askable && error ? <p className="text-destructive">Could not ask the host: {(error as Error).message}</p> : null}
        {askable && !data && !error ? <p className="text-muted-foreground">Asking the host…</p> : null}
        {data ? (
          <>
            <p className="break-words text-muted-foreground" data-testid="services-detail">
              {data.health ? `${data.health}: ` : ""}
              {data.detail} · checked <RelativeTime iso={data.checkedAt} />
            </p>
            {data.services && data.services.length > 0 ? (
              <table className="w-full text-left text-sm">
                <thead className="text-xs text-muted-foreground">
                  <tr>
                    <th className="py-1 pr-4 font-medium">Service</th>
                    <th className="py-1 pr-4 font-medium">State</th>
                    <th className="py-1 pr-4 font-medium">Health</th>
                    <th className="py-1 font-medium">Published ports</th>
                  </tr>
                </thead>
                <tbody>
                  {data.services.map((svc) => (
                    <tr key={`${svc.name} ${svc.container ?? ""}`} className="border-t border-border align-top" data-testid="service-row">
                      <td className="py-1.5 pr-4 font-mono">{svc.name}</td>
                      <td
                        className={cn(
                          "py-1.5 pr-4",
                          svc.condition === "failed" && "text-destructive",
                          svc.condition === "up" && "text-emerald-700 dark:text-emerald-400",
                        )}
                      >
                        {svc.state}
                        {svc.logTail && svc.logTail.length > 0 ? (
                          <pre
                            tabIndex={0}
                            className="mt-1 max-w-xl overflow-x-auto whitespace-pre-wrap break-all rounded border border-border bg-muted/40 p-2 font-mono text-xs text-foreground"
                          >
                            {svc.logTail.join("\n")}
                          </pre>
                        ) : null}
                      </td>
                      <td className="py-1.5 pr-4">{svc.health ?? "—"}</td>
                      <td className="py-1.5 font-mono text-xs">{svc.ports.length ? svc.ports.join(", ") : "—"}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ) : null}
          </>
        ) : null}
      </CardContent>
    </Card>
  );
}
