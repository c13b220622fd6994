"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";

import type { TokenView } from "@/lib/auth/tokens";

import { RelativeTime } from "../../../components/relative-time";
import { Badge } from "../../../components/ui/badge";
import { Button } from "../../../components/ui/button";
import { CopyField } from "../../../components/ui/copy-field";
import { Input } from "../../../components/ui/input";
import { Label } from "../../../components/ui/label";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../../../components/ui/table";
import { createTokenAction, revokeTokenAction } from "./actions";

/** `loginPrefix`: the login command for this server, to which the new token is appended (tokens need no quoting). */
export function TokenManager({ initial, loginPrefix }: { initial: TokenView[]; loginPrefix: string }) {
  const router = useRouter();
  const [name, setName] = useState("");
  const [created, setCreated] = useState<{ token: string; name: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [pending, startTransition] = useTransition();

  function create(e: React.FormEvent) {
    e.preventDefault();
    setError(null);
    startTransition(async () => {
      const r = await createTokenAction({ name });
      if (!r.ok) {
        setError(r.fieldErrors?.name?.join(" ") ?? r.message);
        return;
      }
      setCreated({ token: r.data.token, name: r.data.view.name });
      setName("");
      router.refresh();
    });
  }

  function revoke(id: string) {
    startTransition(async () => {
      const r = await revokeTokenAction({ id });
      if (!r.ok) setError(r.message);
      router.refresh();
    });
  }

  return (
    <div className="space-y-6">
      <form onSubmit={create} className="flex flex-wrap items-end gap-3">
        <div className="grid gap-1.5">
          <Label htmlFor="token-name">Name</Label>
          <Input
            id="token-name"
            value={name}
            onChange={(e) => setName(e.target.value)}
            placeholder="laptop, ci-runner…"
            className="w-64"
            aria-invalid={error ? true : undefined}
          />
        </div>
        <Button type="submit" disabled={pending || !name.trim()} data-testid="create-token">
          Create token
        </Button>
        {error ? (
          <p role="alert" className="w-full text-sm text-destructive">
            {error}
          </p>
        ) : null}
      </form>
      {created ? (
        <div className="space-y-2 rounded-lg border border-emerald-500/40 bg-emerald-500/5 p-4 text-sm" data-testid="new-token">
          <p className="font-medium">Token “{created.name}” — copy it now; it will not be shown again.</p>
          <CopyField value={created.token} label="token" testId="new-token-value" />
          <p className="text-muted-foreground">
            Log in with the{" "}
            <Link href="/cli" className="text-primary underline">
              sandboxer command line
            </Link>{" "}
            (this command holds the token):
          </p>
          <CopyField value={`${loginPrefix} ${created.token}`} label="login command" testId="new-token-login" />
        </div>
      ) : null}
      <Table>
        <TableHeader>
          <TableRow>
            <TableHead>Name</TableHead>
            <TableHead>Token</TableHead>
            <TableHead>Created</TableHead>
            <TableHead>Last used</TableHead>
            <TableHead className="text-right">
              <span className="sr-only">Actions</span>
            </TableHead>
          </TableRow>
        </TableHeader>
        <TableBody>
          {initial.length === 0 ? (
            <TableRow>
              <TableCell colSpan={5} className="text-center text-muted-foreground">
                No tokens yet.
              </TableCell>
            </TableRow>
          ) : null}
          {initial.map((t) => (
            <TableRow key={t.id}>
              <TableCell className="font-medium">{t.name}</TableCell>
              <TableCell className="font-mono text-xs">{t.prefix}…</TableCell>
              <TableCell>
                <RelativeTime iso={t.createdAt} />
              </TableCell>
              <TableCell>{t.lastUsedAt ? <RelativeTime iso={t.lastUsedAt} /> : "never"}</TableCell>
              <TableCell className="text-right">
                {t.revokedAt ? (
                  <Badge tone="muted">revoked</Badge>
                ) : (
                  <Button variant="ghost" size="sm" className="text-destructive" disabled={pending} onClick={() => revoke(t.id)}>
                    Revoke
                  </Button>
                )}
              </TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
    </div>
  );
}
