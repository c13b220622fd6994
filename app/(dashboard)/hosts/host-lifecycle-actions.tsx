"use client";
// The Hosts page's lifecycle controls (admins): add a host and confirm the key it offered, edit one
// (a new address or port asks for the key again), cordon, uncordon, drain (with what still runs) and remove.
import { Ban, CirclePlay, KeyRound, Pencil, Plus, Trash2, Waves } from "lucide-react";
import { useQueryClient } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";
import type { z } from "zod";

import type { editHostBody } from "@/lib/api/schemas";
import type { HostView } from "@/lib/manager/views";

import { hostKeys } from "../../lib/api-client";
import { Button } from "../../components/ui/button";
import {
  Dialog,
  DialogContent,
  DialogDescription,
  DialogFooter,
  DialogHeader,
  DialogTitle,
  DialogTrigger,
} from "../../components/ui/dialog";
import { Input } from "../../components/ui/input";
import { KeepInputForm } from "../../components/ui/keep-input-form";
import { Label } from "../../components/ui/label";

import {
  addHostAction,
  confirmHostKeyAction,
  cordonHostAction,
  drainHostAction,
  editHostAction,
  removeHostAction,
  uncordonHostAction,
} from "./actions";

type Result = { ok: boolean; message?: string; fieldErrors?: Record<string, string[] | undefined> };

function useRun() {
  const router = useRouter();
  const queryClient = useQueryClient();
  const [pending, start] = useTransition();
  const [error, setError] = useState<string | null>(null);
  const run = <R extends Result>(fn: () => Promise<R>, after?: (r: R) => void) =>
    start(async () => {
      setError(null);
      const r = await fn();
      if (!r.ok) {
        const fields = Object.entries(r.fieldErrors ?? {})
          .map(([k, v]) => `${k.replace(/^edit\./, "")}: ${(v ?? []).join(", ")}`)
          .join("; ");
        setError([r.message ?? "That did not work", fields].filter(Boolean).join(" — "));
      } else after?.(r);
      // The table is react-query's (hosts-live.tsx); the orphans section is the server page's.
      if (r.ok) void queryClient.invalidateQueries({ queryKey: hostKeys.all }); // a refusal changed nothing
      router.refresh();
    });
  return { pending, error, run, setError };
}

function ErrorLine({ error }: { error: string | null }) {
  return error ? (
    <p role="alert" className="text-sm text-destructive">
      {error}
    </p>
  ) : null;
}

const VERIFY = 'for k in /etc/ssh/ssh_host_*_key.pub; do ssh-keygen -lf "$k" -E sha256; done';

/** Step 2 of adding (or a rebuilt VM): compare the offered key with the VM's own, then confirm it. */
export function ConfirmKeyDialog({ hostId, offered, trigger }: { hostId: string; offered: string; trigger?: boolean }) {
  const [open, setOpen] = useState(!trigger);
  const [typed, setTyped] = useState("");
  const { pending, error, run } = useRun();
  return (
    <Dialog open={open} onOpenChange={setOpen}>
      {trigger ? (
        <DialogTrigger asChild>
          <Button variant="outline" size="sm" data-testid={`confirm-${hostId}`}>
            <KeyRound aria-hidden /> Confirm key…
          </Button>
        </DialogTrigger>
      ) : null}
      <DialogContent data-testid="confirm-key-dialog">
        <DialogHeader>
          <DialogTitle>Confirm the host key of {hostId}</DialogTitle>
          <DialogDescription>
            sand-boxer never trusts a key on first use. Run this on the VM itself (its console, not over this connection) and paste the
            fingerprint it prints for the key below:
          </DialogDescription>
        </DialogHeader>
        <code className="block rounded-md border border-border bg-muted px-2 py-1 font-mono text-xs">{VERIFY}</code>
        <div className="space-y-1 text-sm">
          <div className="text-muted-foreground">The host offered</div>
          <code className="block break-all font-mono text-xs" data-testid="offered-fingerprint">
            {offered}
          </code>
        </div>
        <div className="space-y-1">
          <Label htmlFor={`fp-${hostId}`}>Fingerprint read on the VM</Label>
          <Input
            id={`fp-${hostId}`}
            name="fingerprint"
            placeholder="SHA256:…"
            value={typed}
            onChange={(e) => setTyped(e.target.value)}
            autoComplete="off"
            spellCheck={false}
          />
        </div>
        <ErrorLine error={error} />
        <DialogFooter>
          <Button
            disabled={pending || !typed.trim()}
            onClick={() =>
              run(
                () => confirmHostKeyAction({ hostId, fingerprint: typed.trim() }),
                () => setOpen(false),
              )
            }
          >
            Pin this key
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}

export function AddHostButton() {
  const [open, setOpen] = useState(false);
  const [added, setAdded] = useState<{ hostId: string; offeredHostKey: string } | null>(null);
  const { pending, error, run } = useRun();
  const submit = (fd: FormData) => {
    const text = (k: string) => {
      const v = String(fd.get(k) ?? "").trim();
      return v === "" ? undefined : v;
    };
    const num = (k: string) => (text(k) === undefined ? undefined : Number(text(k)));
    const labels = text("labels")
      ?.split(",")
      .map((l) => l.trim())
      .filter(Boolean);
    run(
      () =>
        addHostAction({
          id: text("id") ?? "",
          title: text("title"),
          address: text("address"),
          port: num("port"),
          tunnelPort: num("tunnelPort"),
          user: text("user") ?? "",
          labels,
          capacity: num("capacity"),
          workspaceRoot: text("workspaceRoot"),
          markerPath: text("markerPath"),
        }),
      (r) => {
        const data = (r as unknown as { data: { hostId: string; offeredHostKey: string } }).data;
        setOpen(false);
        setAdded({ hostId: data.hostId, offeredHostKey: data.offeredHostKey });
      },
    );
  };
  const field = (name: string, label: string, props: React.InputHTMLAttributes<HTMLInputElement> = {}) => (
    <div className="space-y-1">
      <Label htmlFor={`add-${name}`}>{label}</Label>
      <Input id={`add-${name}`} name={name} autoComplete="off" spellCheck={false} {...props} />
    </div>
  );
  return (
    <>
      <Dialog open={open} onOpenChange={setOpen}>
        <DialogTrigger asChild>
          <Button data-testid="add-host">
            <Plus aria-hidden /> Add host
          </Button>
        </DialogTrigger>
        <DialogContent>
          <DialogHeader>
            <DialogTitle>Add a build host</DialogTitle>
            <DialogDescription>
              sand-boxer connects with its SSH identity and shows the host key the VM offers; you confirm it against the VM before any
              sandbox goes there.
            </DialogDescription>
          </DialogHeader>
          <KeepInputForm onData={submit} className="grid grid-cols-2 gap-3">
            {field("id", "Id", { required: true, placeholder: "haskell-3" })}
            {field("title", "Title", { placeholder: "Haskell build VM 3" })}
            {field("address", "Address", { placeholder: "10.0.0.12 (or leave empty with a tunnel port)" })}
            {field("port", "SSH port", { inputMode: "numeric", placeholder: "22" })}
            {field("tunnelPort", "Tunnel port", { inputMode: "numeric", placeholder: "reverse tunnel, optional" })}
            {field("user", "User", { required: true, placeholder: "build" })}
            {field("labels", "Labels", { placeholder: "haskell, x86_64" })}
            {field("capacity", "Capacity", { inputMode: "numeric", placeholder: "10" })}
            {field("workspaceRoot", "Workspace root", { placeholder: "/build" })}
            {field("markerPath", "Image marker", { placeholder: "/etc/sandboxer-image.json" })}
            <div className="col-span-2">
              <ErrorLine error={error} />
            </div>
            <DialogFooter className="col-span-2">
              <Button type="submit" disabled={pending}>
                Connect and show its key
              </Button>
            </DialogFooter>
          </KeepInputForm>
        </DialogContent>
      </Dialog>
      {added ? <ConfirmKeyDialog key={added.hostId} hostId={added.hostId} offered={added.offeredHostKey} /> : null}
    </>
  );
}

type EditHostBody = z.input<typeof editHostBody>;

type EditableHost = Pick<
  HostView,
  "id" | "title" | "address" | "port" | "tunnelPort" | "user" | "labels" | "capacity" | "workspaceRoot" | "markerPath"
>;

/** Edit a dashboard-added host; a new address or port shows the key it offers there, to confirm. */
export function EditHostButton({ host }: { host: EditableHost }) {
  const [open, setOpen] = useState(false);
  const [moved, setMoved] = useState<{ offeredHostKey: string } | null>(null);
  const { pending, error, run } = useRun();
  const submit = (fd: FormData) => {
    // Only what the admin changed is sent, so a new tunnel port is not undone by the old port's field.
    const edit: Record<string, unknown> = {};
    const text = (k: keyof EditableHost, was: string) => {
      const v = String(fd.get(k) ?? "").trim();
      if (v !== was) edit[k] = v === "" ? undefined : v;
    };
    const num = (k: keyof EditableHost, was: number | null) => {
      const v = String(fd.get(k) ?? "").trim();
      // An emptied tunnel port drops the tunnel; a number that is not one reaches the server's check.
      if (v !== (was === null ? "" : String(was))) edit[k] = v === "" ? null : Number(v);
    };
    text("title", host.title);
    text("address", host.address);
    num("port", host.port);
    num("tunnelPort", host.tunnelPort);
    text("user", host.user);
    num("capacity", host.capacity);
    text("workspaceRoot", host.workspaceRoot);
    text("markerPath", host.markerPath);
    const labels = String(fd.get("labels") ?? "")
      .split(",")
      .map((l) => l.trim())
      .filter(Boolean);
    if (labels.join(",") !== host.labels.join(",")) edit.labels = labels;
    run(
      () => editHostAction({ hostId: host.id, edit: edit as EditHostBody }),
      (r) => {
        const data = (r as unknown as { data: { keyConfirmation: { offeredHostKey: string } | null } }).data;
        setOpen(false);
        if (data.keyConfirmation) setMoved({ offeredHostKey: data.keyConfirmation.offeredHostKey });
      },
    );
  };
  const field = (name: keyof EditableHost, label: string, value: string, props: React.InputHTMLAttributes<HTMLInputElement> = {}) => (
    <div className="space-y-1">
      <Label htmlFor={`edit-${host.id}-${name}`}>{label}</Label>
      <Input id={`edit-${host.id}-${name}`} name={name} defaultValue={value} autoComplete="off" spellCheck={false} {...props} />
    </div>
  );
  return (
    <>
      <Dialog open={open} onOpenChange={setOpen}>
        <DialogTrigger asChild>
          <Button variant="outline" size="sm" data-testid={`edit-${host.id}`}>
            <Pencil aria-hidden /> Edit
          </Button>
        </DialogTrigger>
        <DialogContent data-testid="edit-host-dialog">
          <DialogHeader>
            <DialogTitle>Edit {host.id}</DialogTitle>
            <DialogDescription>
              A new address or port is not trusted on the old key: the host waits for you to confirm the key it offers there. Address,
              ports, user and workspace root cannot change while sandboxes live on it (drain it first).
            </DialogDescription>
          </DialogHeader>
          <KeepInputForm onData={submit} className="grid grid-cols-2 gap-3">
            {field("title", "Title", host.title)}
            {field("address", "Address", host.address)}
            {field("port", "SSH port", String(host.port), { inputMode: "numeric" })}
            {field("tunnelPort", "Tunnel port", host.tunnelPort === null ? "" : String(host.tunnelPort), {
              inputMode: "numeric",
              placeholder: "none",
            })}
            {field("user", "User", host.user)}
            {field("labels", "Labels", host.labels.join(", "), { placeholder: "none" })}
            {field("capacity", "Capacity", String(host.capacity), { inputMode: "numeric" })}
            {field("workspaceRoot", "Workspace root", host.workspaceRoot)}
            {field("markerPath", "Image marker", host.markerPath)}
            <div className="col-span-2">
              <ErrorLine error={error} />
            </div>
            <DialogFooter className="col-span-2">
              <Button type="submit" disabled={pending}>
                Save
              </Button>
            </DialogFooter>
          </KeepInputForm>
        </DialogContent>
      </Dialog>
      {moved ? <ConfirmKeyDialog key={moved.offeredHostKey} hostId={host.id} offered={moved.offeredHostKey} /> : null}
    </>
  );
}

export function CordonControls({ hostId, cordoned, removable }: { hostId: string; cordoned: boolean; removable: boolean }) {
  const { pending, error, run } = useRun();
  const [report, setReport] = useState<string | null>(null);
  return (
    <span className="flex flex-col items-end gap-1">
      <span className="inline-flex flex-wrap justify-end gap-2">
        {cordoned ? (
          <Button
            variant="outline"
            size="sm"
            disabled={pending}
            onClick={() => run(() => uncordonHostAction({ hostId }))}
            data-testid={`uncordon-${hostId}`}
          >
            <CirclePlay aria-hidden /> Uncordon
          </Button>
        ) : (
          <Button
            variant="outline"
            size="sm"
            disabled={pending}
            onClick={() =>
              run(() => cordonHostAction({ hostId, reason: window.prompt("Why? (shown to people whose creates wait)") ?? undefined }))
            }
            data-testid={`cordon-${hostId}`}
          >
            <Ban aria-hidden /> Cordon
          </Button>
        )}
        <Button
          variant="outline"
          size="sm"
          disabled={pending}
          onClick={() =>
            run(
              () => drainHostAction({ hostId }),
              (r) => setReport((r as unknown as { data: { summary: string } }).data.summary),
            )
          }
          data-testid={`drain-${hostId}`}
        >
          <Waves aria-hidden /> Drain
        </Button>
        {removable ? (
          <Button
            variant="ghost"
            size="sm"
            className="text-destructive"
            disabled={pending}
            onClick={() => {
              if (window.confirm(`Remove ${hostId} from the registry?`)) run(() => removeHostAction({ hostId }));
            }}
            data-testid={`remove-${hostId}`}
          >
            <Trash2 aria-hidden /> Remove
          </Button>
        ) : null}
      </span>
      {report ? <span className="text-xs text-muted-foreground">{report}</span> : null}
      {error ? (
        <span role="alert" className="max-w-[20rem] text-xs text-destructive">
          {error}
        </span>
      ) : null}
    </span>
  );
}
