"use client";

import { useQueryClient } from "@tanstack/react-query";
import { Trash2 } from "lucide-react";
import { useState, useTransition } from "react";

import type { SandboxView } from "@/lib/manager/views";

import { sandboxKeys } from "../../lib/api-client";
import { teamStream } from "../../lib/team-stream";
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
import { destroySandboxAction } from "../actions";

/** The Destroy button and its confirmation, which shows exactly what will be removed. */
export function DestroyButton({
  sandbox,
  size = "sm",
  label = "Destroy",
  onDestroyed,
}: {
  sandbox: SandboxView;
  size?: "sm" | "default";
  label?: string;
  onDestroyed?: (s: SandboxView) => void;
}) {
  const [open, setOpen] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [pending, startTransition] = useTransition();
  const queryClient = useQueryClient();
  const teardown = sandbox.handle?.teardown ?? [];

  function confirm() {
    setError(null);
    startTransition(async () => {
      const result = await destroySandboxAction({ id: sandbox.id });
      if (!result.ok) {
        setError(result.message);
        return;
      }
      setOpen(false);
      onDestroyed?.(result.data);
      // The team stream brings the rest (destroying → destroyed); without it, fetch.
      if (!teamStream().up) await queryClient.invalidateQueries({ queryKey: sandboxKeys.all });
    });
  }

  return (
    <AlertDialog open={open} onOpenChange={(o) => (setOpen(o), setError(null))}>
      <AlertDialogTrigger asChild>
        <Button
          variant={label === "Retry destroy" ? "outline" : "ghost"}
          size={size}
          className="text-destructive hover:text-destructive"
          data-testid={`destroy-${sandbox.id}`}
        >
          <Trash2 aria-hidden /> {label}
        </Button>
      </AlertDialogTrigger>
      <AlertDialogContent data-testid="destroy-dialog">
        <AlertDialogHeader>
          <AlertDialogTitle>Destroy sandbox {sandbox.id}?</AlertDialogTitle>
          <AlertDialogDescription asChild>
            <div className="space-y-3">
              {teardown.length > 0 ? (
                <>
                  <p>This removes exactly the following, and nothing else:</p>
                  <ul
                    className="space-y-1 rounded-md border border-border bg-muted/50 p-3 font-mono text-xs text-foreground"
                    data-testid="teardown-preview"
                  >
                    {teardown.map((line) => (
                      <li key={line} className="break-all">
                        {line}
                      </li>
                    ))}
                  </ul>
                </>
              ) : (
                <p>Nothing has been created for it yet: its queued work is cancelled and nothing is removed.</p>
              )}
              <p>
                Profile <span className="font-medium text-foreground">{sandbox.profileTitle}</span>, owned by{" "}
                <span className="font-medium text-foreground">{sandbox.owner.email}</span>. This cannot be undone.
              </p>
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
          <Button variant="destructive" onClick={confirm} disabled={pending} data-testid="confirm-destroy">
            {pending ? "Destroying…" : "Destroy"}
          </Button>
        </AlertDialogFooter>
      </AlertDialogContent>
    </AlertDialog>
  );
}
