"use client";

import { KeyRound, RefreshCw } from "lucide-react";
import { useQueryClient } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";

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
import { hostKeys } from "../../lib/api-client";
import { Button } from "../../components/ui/button";
import { adoptOrphanAction, checkHostAction, cleanUpOrphanAction, pinHostKeyAction } from "./actions";

function useAction() {
  const router = useRouter();
  const queryClient = useQueryClient();
  const [pending, start] = useTransition();
  const [error, setError] = useState<string | null>(null);
  const run = (fn: () => Promise<{ ok: boolean; message?: string }>, after?: () => void) =>
    start(async () => {
      setError(null);
      const r = await fn();
      if (!r.ok) setError(r.message ?? "That did not work");
      else after?.();
      // The table is react-query's (hosts-live.tsx); the orphans section is the server page's.
      void queryClient.invalidateQueries({ queryKey: hostKeys.all });
      router.refresh();
    });
  return { pending, error, run };
}

export function CheckHostButton({ hostId }: { hostId: string }) {
  const { pending, error, run } = useAction();
  return (
    <span className="inline-flex items-center gap-2">
      <Button
        variant="outline"
        size="sm"
        disabled={pending}
        onClick={() => run(() => checkHostAction({ hostId }))}
        data-testid={`check-${hostId}`}
      >
        <RefreshCw aria-hidden /> Check now
      </Button>
      {error ? (
        <span role="alert" className="text-xs text-destructive">
          {error}
        </span>
      ) : null}
    </span>
  );
}

export function PinKeyButton({ hostId, pinned, offered }: { hostId: string; pinned: string; offered: string }) {
  const [open, setOpen] = useState(false);
  const { pending, error, run } = useAction();
  return (
    <AlertDialog open={open} onOpenChange={setOpen}>
      <AlertDialogTrigger asChild>
        <Button variant="destructive" size="sm" data-testid={`pin-${hostId}`}>
          <KeyRound aria-hidden /> Pin new key…
        </Button>
      </AlertDialogTrigger>
      <AlertDialogContent>
        <AlertDialogHeader>
          <AlertDialogTitle>Pin a new host key for {hostId}?</AlertDialogTitle>
          <AlertDialogDescription asChild>
            <div className="space-y-3">
              <p>
                The host offered a different key than the one pinned. That is expected after the VM was rebuilt — and it is also what an
                attack looks like. Verify the new key on the VM itself first:
              </p>
              <code className="block rounded-md border border-border bg-muted px-2 py-1 font-mono text-xs">
                ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub -E sha256
              </code>
              <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-1 font-mono text-xs text-foreground">
                <dt className="text-muted-foreground">pinned</dt>
                <dd className="break-all">{pinned}</dd>
                <dt className="text-muted-foreground">offered</dt>
                <dd className="break-all" data-testid="offered-key">
                  {offered}
                </dd>
              </dl>
              {error ? (
                <p role="alert" className="text-destructive">
                  {error}
                </p>
              ) : null}
            </div>
          </AlertDialogDescription>
        </AlertDialogHeader>
        <AlertDialogFooter>
          <AlertDialogCancel disabled={pending}>Cancel</AlertDialogCancel>
          <Button
            variant="destructive"
            disabled={pending}
            onClick={() =>
              run(
                () => pinHostKeyAction({ hostId, fingerprint: offered }),
                () => setOpen(false),
              )
            }
          >
            Pin the offered key
          </Button>
        </AlertDialogFooter>
      </AlertDialogContent>
    </AlertDialog>
  );
}

export function OrphanActions({ orphanId, path, host }: { orphanId: string; path: string; host: string }) {
  const { pending, error, run } = useAction();
  const [open, setOpen] = useState(false);
  return (
    <span className="inline-flex items-center gap-2">
      <Button variant="outline" size="sm" disabled={pending} onClick={() => run(() => adoptOrphanAction({ orphanId }))}>
        Adopt
      </Button>
      <AlertDialog open={open} onOpenChange={setOpen}>
        <AlertDialogTrigger asChild>
          <Button variant="ghost" size="sm" className="text-destructive">
            Clean up
          </Button>
        </AlertDialogTrigger>
        <AlertDialogContent>
          <AlertDialogHeader>
            <AlertDialogTitle>Remove this orphan workspace?</AlertDialogTitle>
            <AlertDialogDescription asChild>
              <div className="space-y-2">
                <p>No sandbox record accounts for it. This removes exactly:</p>
                <code className="block break-all rounded-md border border-border bg-muted px-2 py-1 font-mono text-xs text-foreground">
                  directory {path} on {host}
                </code>
              </div>
            </AlertDialogDescription>
          </AlertDialogHeader>
          <AlertDialogFooter>
            <AlertDialogCancel disabled={pending}>Cancel</AlertDialogCancel>
            <Button
              variant="destructive"
              disabled={pending}
              onClick={() =>
                run(
                  () => cleanUpOrphanAction({ orphanId }),
                  () => setOpen(false),
                )
              }
            >
              Clean up
            </Button>
          </AlertDialogFooter>
        </AlertDialogContent>
      </AlertDialog>
      {error ? (
        <span role="alert" className="text-xs text-destructive">
          {error}
        </span>
      ) : null}
    </span>
  );
}
