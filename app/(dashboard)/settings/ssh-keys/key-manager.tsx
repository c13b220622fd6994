"use client";

import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";

import type { SshKeyView } from "@/lib/manager/ssh-keys";

import { RelativeTime } from "../../../components/relative-time";
import { Button } from "../../../components/ui/button";
import { Label } from "../../../components/ui/label";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../../../components/ui/table";
import { addSshKeyAction, removeSshKeyAction } from "./actions";

export function KeyManager({ initial }: { initial: SshKeyView[] }) {
  const router = useRouter();
  const [publicKey, setPublicKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [pending, startTransition] = useTransition();

  function add(e: React.FormEvent) {
    e.preventDefault();
    setError(null);
    startTransition(async () => {
      const r = await addSshKeyAction({ publicKey });
      if (!r.ok) {
        setError(r.fieldErrors?.publicKey?.join(" ") ?? r.message);
        return;
      }
      setPublicKey("");
      router.refresh();
    });
  }

  function remove(id: string) {
    startTransition(async () => {
      const r = await removeSshKeyAction({ id });
      if (!r.ok) setError(r.message);
      router.refresh();
    });
  }

  return (
    <div className="space-y-6">
      <form onSubmit={add} className="grid gap-2">
        <Label htmlFor="public-key">Public key (the contents of ~/.ssh/id_ed25519.pub)</Label>
        <textarea
          id="public-key"
          value={publicKey}
          onChange={(e) => setPublicKey(e.target.value)}
          placeholder="ssh-ed25519 AAAAC3Nz… you@laptop"
          rows={3}
          className="w-full rounded-md border border-border bg-background px-3 py-2 font-mono text-xs"
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? "public-key-error" : undefined}
          data-testid="public-key"
        />
        <div>
          <Button type="submit" disabled={pending || !publicKey.trim()} data-testid="add-ssh-key">
            Add key
          </Button>
        </div>
        {error ? (
          <p id="public-key-error" role="alert" className="text-sm text-destructive">
            {error}
          </p>
        ) : null}
      </form>
      <Table>
        <TableHeader>
          <TableRow>
            <TableHead>Fingerprint</TableHead>
            <TableHead>Type</TableHead>
            <TableHead>Comment</TableHead>
            <TableHead>Added</TableHead>
            <TableHead>Last used</TableHead>
            <TableHead className="text-right">
              <span className="sr-only">Actions</span>
            </TableHead>
          </TableRow>
        </TableHeader>
        <TableBody data-testid="ssh-keys">
          {initial.length === 0 ? (
            <TableRow>
              <TableCell colSpan={6} className="text-center text-muted-foreground">
                No keys yet.
              </TableCell>
            </TableRow>
          ) : null}
          {initial.map((k) => (
            <TableRow key={k.id}>
              <TableCell className="font-mono text-xs">{k.fingerprint}</TableCell>
              <TableCell className="text-xs">
                {k.type} ({k.bits})
              </TableCell>
              <TableCell>{k.comment}</TableCell>
              <TableCell>
                <RelativeTime iso={k.createdAt} />
              </TableCell>
              <TableCell>{k.lastUsedAt ? <RelativeTime iso={k.lastUsedAt} /> : "never"}</TableCell>
              <TableCell className="text-right">
                <Button variant="ghost" size="sm" className="text-destructive" disabled={pending} onClick={() => remove(k.id)}>
                  Remove
                </Button>
              </TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </div>
  );
}
