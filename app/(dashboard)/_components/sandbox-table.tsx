"use client";

import { keepPreviousData, useQuery, useQueryClient } from "@tanstack/react-query";
import { ChevronLeft, ChevronRight, Trash2 } from "lucide-react";
import Link from "next/link";
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { useState, useTransition } from "react";

import { SANDBOX_STATUSES, expiryMeaning, type SandboxStatus } from "@/lib/manager/states";
import type { SandboxListView, SandboxView } from "@/lib/manager/views";

import { fetchSandboxList, sandboxKeys, type ListFilters } from "../../lib/api-client";
import { applySandboxToList } from "../../lib/live-cache";
import { FALLBACK_POLL_MS, useTeamStreamUp } from "../../lib/team-stream";
import { RelativeTime } from "../../components/relative-time";
import { StatusBadge } from "../../components/status-badge";
import {
  AlertDialog,
  AlertDialogCancel,
  AlertDialogContent,
  AlertDialogDescription,
  AlertDialogFooter,
  AlertDialogHeader,
  AlertDialogTitle,
  AlertDialogTrigger,
} from "../../components/ui/alert-dialog";
import { Button } from "../../components/ui/button";
import { Checkbox } from "../../components/ui/checkbox";
import { cn } from "../../components/ui/cn";
import { Select, SelectContent, SelectItem, SelectTrigger, SelectValue } from "../../components/ui/select";
import { ANY_VALUE } from "../../components/ui/select-any";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../../components/ui/table";
import { destroySandboxesAction } from "../actions";
import { DestroyButton } from "./destroy-dialog";

export function SandboxTable({
  initial,
  filters,
  viewer,
  people,
  profiles,
  empty,
}: {
  empty?: React.ReactNode;
  initial: SandboxListView;
  filters: ListFilters;
  viewer: { id: string; admin: boolean };
  people: { id: string; email: string }[];
  profiles: { id: string; title: string }[];
}) {
  const router = useRouter();
  const pathname = usePathname();
  const params = useSearchParams();
  const queryClient = useQueryClient();
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [navigating, startNavigation] = useTransition();

  const streamUp = useTeamStreamUp();
  const { data } = useQuery({
    queryKey: sandboxKeys.list(filters),
    queryFn: () => fetchSandboxList(filters),
    initialData: initial,
    placeholderData: keepPreviousData,
    // The team stream keeps this list current (components/live-updates.tsx); polling only while it is down.
    refetchInterval: streamUp ? false : FALLBACK_POLL_MS,
    refetchOnWindowFocus: !streamUp,
  });

  function setParam(updates: Record<string, string | null>) {
    const next = new URLSearchParams(params.toString());
    for (const [k, v] of Object.entries(updates)) {
      if (v === null || v === "") next.delete(k);
      else next.set(k, v);
    }
    if (!("page" in updates)) next.delete("page");
    startNavigation(() => router.replace(`${pathname}${next.size ? `?${next.toString()}` : ""}`, { scroll: false }));
  }

  function markDestroying(s: SandboxView) {
    queryClient.setQueryData<SandboxListView>(sandboxKeys.list(filters), (old) =>
      old ? applySandboxToList(old, filters, s, viewer.id) : old,
    );
  }

  const rows = data.rows;
  const counts = data.counts;
  const activeStatus = filters.status ?? "";
  const destroyable = (r: SandboxView) =>
    r.status !== "destroyed" && r.status !== "destroying" && (viewer.admin || r.owner.id === viewer.id);

  // The default view is the active sandboxes; the ones destroyed in the last minutes follow as their
  // own labelled group (so a person sees their destroy finish), unless the filter asks for destroyed ones.
  const grouped = activeStatus === "";
  const activeRows = grouped ? rows.filter((r) => r.status !== "destroyed") : rows;
  const destroyedRows = grouped ? rows.filter((r) => r.status === "destroyed") : [];
  const renderRow = (r: SandboxView) => (
    <TableRow key={r.id} data-testid={`row-${r.id}`} data-status={r.status}>
      {viewer.admin ? (
        <TableCell>
          <Checkbox
            aria-label={`Select ${r.id}`}
            disabled={!destroyable(r)}
            checked={selected.has(r.id)}
            onCheckedChange={(checked) => {
              const next = new Set(selected);
              if (checked === true) next.add(r.id);
              else next.delete(r.id);
              setSelected(next);
            }}
          />
        </TableCell>
      ) : null}
      <TableCell>
        <Link href={`/sandboxes/${r.id}`} className="font-mono text-sm font-medium text-primary hover:underline">
          {r.id}
        </Link>
      </TableCell>
      <TableCell className="max-w-[14rem] truncate" title={r.owner.email}>
        {r.owner.id === viewer.id ? <span className="font-medium">you</span> : r.owner.email}
      </TableCell>
      <TableCell className="max-w-[14rem] truncate" title={r.profileId}>
        {r.profileTitle}
      </TableCell>
      <TableCell className="whitespace-nowrap text-muted-foreground">{r.host ? r.host.title : (r.handle?.target ?? "—")}</TableCell>
      <TableCell>
        <StatusBadge status={r.status} />
      </TableCell>
      <TableCell className="text-muted-foreground">
        <RelativeTime iso={r.createdAt} />
      </TableCell>
      <TableCell className="text-muted-foreground">
        {expiryMeaning(r.status) === "ends" ? <RelativeTime iso={r.expiresAt} mode="until" /> : "—"}
      </TableCell>
      <TableCell className="text-right">
        {destroyable(r) ? (
          <DestroyButton sandbox={r} label={r.status === "destroy_failed" ? "Retry destroy" : "Destroy"} onDestroyed={markDestroying} />
        ) : null}
      </TableCell>
    </TableRow>
  );

  if (empty && data.total === 0) return <>{empty}</>;

  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-center gap-2" role="toolbar" aria-label="Filters">
        <button
          type="button"
          onClick={() => setParam({ status: null })}
          aria-pressed={activeStatus === ""}
          data-testid="count-active"
          className={cn("rounded-full border border-border px-3 py-1 text-xs", activeStatus === "" && "bg-foreground text-background")}
        >
          Active ·{" "}
          <span className="tabular">{SANDBOX_STATUSES.filter((s) => s !== "destroyed").reduce((n, s) => n + (counts[s] ?? 0), 0)}</span>
        </button>
        {SANDBOX_STATUSES.map((s) => (
          <button
            key={s}
            type="button"
            data-testid={`count-${s}`}
            onClick={() => setParam({ status: activeStatus === s ? null : s })}
            aria-pressed={activeStatus === s}
            className={cn("rounded-full border border-border px-3 py-1 text-xs", activeStatus === s && "bg-foreground text-background")}
          >
            {s.replace("_", " ")} · <span className="tabular">{counts[s as SandboxStatus] ?? 0}</span>
          </button>
        ))}
        <div className="ml-auto flex flex-wrap items-center gap-2">
          <div className="flex items-center gap-1.5 text-sm">
            <Checkbox
              id="filter-mine"
              checked={filters.mine === "1"}
              onCheckedChange={(checked) => setParam({ mine: checked === true ? "1" : null })}
              data-testid="filter-mine"
            />
            <label htmlFor="filter-mine">Mine</label>
          </div>
          <Select value={filters.owner ?? ANY_VALUE} onValueChange={(v) => setParam({ owner: v === ANY_VALUE ? null : v })}>
            <SelectTrigger aria-label="Owner" className="h-8 w-48">
              <SelectValue />
            </SelectTrigger>
            <SelectContent>
              <SelectItem value={ANY_VALUE}>Any owner</SelectItem>
              {people.map((p) => (
                <SelectItem key={p.id} value={p.id}>
                  {p.email}
                </SelectItem>
              ))}
            </SelectContent>
          </Select>
          <Select value={filters.profile ?? ANY_VALUE} onValueChange={(v) => setParam({ profile: v === ANY_VALUE ? null : v })}>
            <SelectTrigger aria-label="Profile" className="h-8 w-48">
              <SelectValue />
            </SelectTrigger>
            <SelectContent>
              <SelectItem value={ANY_VALUE}>Any profile</SelectItem>
              {profiles.map((p) => (
                <SelectItem key={p.id} value={p.id}>
                  {p.title}
                </SelectItem>
              ))}
            </SelectContent>
          </Select>
        </div>
      </div>

      {viewer.admin && selected.size > 0 ? (
        <BulkDestroy
          rows={rows.filter((r) => selected.has(r.id))}
          onDone={() => {
            setSelected(new Set());
            void queryClient.invalidateQueries({ queryKey: sandboxKeys.all });
          }}
        />
      ) : null}

      <Table className={cn(navigating && "opacity-70")} data-testid="sandbox-table">
        <TableHeader>
          <TableRow>
            {viewer.admin ? (
              <TableHead className="w-8">
                <Checkbox
                  aria-label="Select all on this page"
                  checked={rows.filter(destroyable).length > 0 && rows.filter(destroyable).every((r) => selected.has(r.id))}
                  onCheckedChange={(checked) => setSelected(new Set(checked === true ? rows.filter(destroyable).map((r) => r.id) : []))}
                />
              </TableHead>
            ) : null}
            <TableHead>Sandbox</TableHead>
            <TableHead>Owner</TableHead>
            <TableHead>Profile</TableHead>
            <TableHead>Host</TableHead>
            <TableHead>Status</TableHead>
            <TableHead>Age</TableHead>
            <TableHead>Expires</TableHead>
            <TableHead className="text-right">
              <span className="sr-only">Actions</span>
            </TableHead>
          </TableRow>
        </TableHeader>
        <TableBody>
          {activeRows.map(renderRow)}
          {destroyedRows.length > 0 ? (
            <TableRow data-testid="recently-destroyed" className="hover:bg-transparent">
              <TableCell colSpan={viewer.admin ? 9 : 8} className="pt-6 text-xs font-medium uppercase tracking-wide text-muted-foreground">
                Recently destroyed <span className="font-normal normal-case">(last 10 minutes)</span>
              </TableCell>
            </TableRow>
          ) : null}
          {destroyedRows.map(renderRow)}
        </TableBody>
      </Table>

      <div className="flex items-center justify-between text-sm text-muted-foreground">
        <span className="tabular" data-testid="page-info">
          {data.total === 0
            ? "No sandboxes"
            : `${(data.page - 1) * data.pageSize + 1}–${Math.min(data.page * data.pageSize, data.total)} of ${data.total}`}
        </span>
        <div className="flex items-center gap-2">
          <Button
            variant="outline"
            size="sm"
            disabled={data.page <= 1}
            onClick={() => setParam({ page: String(data.page - 1) })}
            aria-label="Previous page"
          >
            <ChevronLeft aria-hidden /> Previous
          </Button>
          <span className="tabular">
            Page {data.page} of {data.pages}
          </span>
          <Button
            variant="outline"
            size="sm"
            disabled={data.page >= data.pages}
            onClick={() => setParam({ page: String(data.page + 1) })}
            aria-label="Next page"
            data-testid="next-page"
          >
            Next <ChevronRight aria-hidden />
          </Button>
        </div>
      </div>
    </div>
  );
}

function BulkDestroy({ rows, onDone }: { rows: SandboxView[]; onDone: () => void }) {
  const [open, setOpen] = useState(false);
  const [pending, startTransition] = useTransition();
  const [message, setMessage] = useState<string | null>(null);
  function confirm() {
    startTransition(async () => {
      const result = await destroySandboxesAction({ ids: rows.map((r) => r.id) });
      if (!result.ok) {
        setMessage(result.message);
        return;
      }
      const failed = result.data.filter((r) => !r.ok);
      if (failed.length) setMessage(failed.map((f) => `${f.id}: ${"message" in f ? f.message : ""}`).join("; "));
      else {
        setOpen(false);
        onDone();
      }
    });
  }
  return (
    <div className="flex items-center gap-3 rounded-md border border-border bg-muted/50 px-3 py-2 text-sm">
      <span>{rows.length} selected</span>
      <AlertDialog open={open} onOpenChange={setOpen}>
        <AlertDialogTrigger asChild>
          <Button variant="destructive" size="sm" data-testid="bulk-destroy">
            <Trash2 aria-hidden /> Destroy selected
          </Button>
        </AlertDialogTrigger>
        <AlertDialogContent>
          <AlertDialogHeader>
            <AlertDialogTitle>Destroy {rows.length} sandboxes?</AlertDialogTitle>
            <AlertDialogDescription asChild>
              <div className="space-y-2">
                <p>Each teardown removes exactly what is listed:</p>
                <ul className="max-h-64 space-y-1 overflow-auto rounded-md border border-border bg-muted/50 p-3 font-mono text-xs text-foreground">
                  {rows.map((r) => (
                    <li key={r.id} className="break-all">
                      {r.id}: {r.handle?.teardown.join("; ") || "nothing created yet"}
                    </li>
                  ))}
                </ul>
                {message ? (
                  <p role="alert" className="text-destructive">
                    {message}
                  </p>
                ) : null}
              </div>
            </AlertDialogDescription>
          </AlertDialogHeader>
          <AlertDialogFooter>
            <AlertDialogCancel disabled={pending}>Cancel</AlertDialogCancel>
            <Button variant="destructive" onClick={confirm} disabled={pending} data-testid="confirm-bulk-destroy">
              {pending ? "Destroying…" : `Destroy ${rows.length}`}
            </Button>
          </AlertDialogFooter>
        </AlertDialogContent>
      </AlertDialog>
    </div>
  );
}
