"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";

import { TOKEN_SCOPE_HELP, type TokenScope } from "@/lib/auth/token-scopes";
import type { TokenView } from "@/lib/auth/tokens";

import { RelativeTime } from "../../../components/relative-time";
import { Badge } from "../../../components/ui/badge";
import { Button } from "../../../components/ui/button";
import { Checkbox } from "../../../components/ui/checkbox";
import { CopyField } from "../../../components/ui/copy-field";
import { Input } from "../../../components/ui/input";
import { Label } from "../../../components/ui/label";
import { Select, SelectContent, SelectItem, SelectTrigger, SelectValue } from "../../../components/ui/select";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../../../components/ui/table";
import { createTokenAction, revokeTokenAction } from "./actions";

const DAY = 86_400_000;

/** "90d", "12h", "30m": the largest unit that divides the lifetime, as the API's expiresIn takes it. */
function durationText(ms: number): string {
  if (ms % DAY === 0) return `${ms / DAY}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  return `${Math.max(1, Math.round(ms / 60_000))}m`;
}

function durationLabel(ms: number): string {
  if (ms % DAY === 0) return ms === DAY ? "1 day" : `${ms / DAY} days`;
  return durationText(ms);
}

/** The lifetimes offered: common ones up to the maximum, plus the default and the maximum themselves. */
function lifetimeOptions(defaultMs: number, maxMs: number): number[] {
  const presets = [1, 7, 30, 90, 180, 365].map((d) => d * DAY).filter((ms) => ms <= maxMs);
  return [...new Set([...presets, defaultMs, maxMs])].sort((a, b) => a - b);
}

function Expiry({ token }: { token: TokenView }) {
  if (!token.expiresAt) return <span title="Made before tokens expired; revoke it and create a new one">never — legacy</span>;
  // "7h 58m left", or "expired" once past (the shared clock, so no impure render).
  return <RelativeTime iso={token.expiresAt} mode="until" />;
}

/** `loginPrefix`: the login command for this server, to which the new token is appended (tokens need no quoting). */
export function TokenManager({
  initial,
  loginPrefix,
  canAdmin,
  ttlDefaultMs,
  ttlMaxMs,
}: {
  initial: TokenView[];
  loginPrefix: string;
  /** The viewer is an admin: the admin scope is offered. */
  canAdmin: boolean;
  ttlDefaultMs: number;
  ttlMaxMs: number;
}) {
  const router = useRouter();
  const [name, setName] = useState("");
  const [access, setAccess] = useState<"read" | "full">("full");
  const [admin, setAdmin] = useState(false);
  const [lifetime, setLifetime] = useState(durationText(ttlDefaultMs));
  const [created, setCreated] = useState<{ token: string; name: string; scopes: TokenScope[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [pending, startTransition] = useTransition();

  function create(e: React.FormEvent) {
    e.preventDefault();
    setError(null);
    startTransition(async () => {
      const scopes: TokenScope[] = admin ? [access, "admin"] : [access];
      const r = await createTokenAction({ name, scopes, expiresIn: lifetime });
      if (!r.ok) {
        const fields = r.fieldErrors ?? {};
        setError([fields.name, fields.scopes, fields.expiresIn].flat().filter(Boolean).join(" ") || r.message);
        return;
      }
      setCreated({ token: r.data.token, name: r.data.view.name, scopes: r.data.view.scopes });
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
        <div className="grid gap-1.5">
          <Label htmlFor="token-access">Scope</Label>
          <Select value={access} onValueChange={(v) => setAccess(v as "read" | "full")}>
            <SelectTrigger id="token-access" className="w-auto min-w-64">
              <SelectValue />
            </SelectTrigger>
            <SelectContent>
              <SelectItem value="full">full — {TOKEN_SCOPE_HELP.full}</SelectItem>
              <SelectItem value="read">read — {TOKEN_SCOPE_HELP.read}</SelectItem>
            </SelectContent>
          </Select>
        </div>
        <div className="grid gap-1.5">
          <Label htmlFor="token-expiry">Expires after</Label>
          <Select value={lifetime} onValueChange={setLifetime}>
            <SelectTrigger id="token-expiry" className="w-40">
              <SelectValue />
            </SelectTrigger>
            <SelectContent>
              {lifetimeOptions(ttlDefaultMs, ttlMaxMs).map((ms) => (
                <SelectItem key={ms} value={durationText(ms)}>
                  {durationLabel(ms)}
                  {ms === ttlDefaultMs ? " (default)" : ""}
                </SelectItem>
              ))}
            </SelectContent>
          </Select>
        </div>
        {canAdmin ? (
          <div className="flex h-9 items-center gap-2 text-sm" title={TOKEN_SCOPE_HELP.admin}>
            <Checkbox
              id="token-admin"
              checked={admin}
              onCheckedChange={(checked) => setAdmin(checked === true)}
              data-testid="token-admin"
            />
            <label htmlFor="token-admin">admin scope</label>
          </div>
        ) : null}
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
          <p className="font-medium">
            Token “{created.name}” ({created.scopes.join(" ")}) — copy it now; it will not be shown again.
          </p>
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
            <TableHead>Scopes</TableHead>
            <TableHead>Expires</TableHead>
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
              <TableCell colSpan={7} className="text-center text-muted-foreground">
                No tokens yet.
              </TableCell>
            </TableRow>
          ) : null}
          {initial.map((t) => (
            <TableRow key={t.id}>
              <TableCell className="font-medium">{t.name}</TableCell>
              <TableCell className="font-mono text-xs">{t.prefix}…</TableCell>
              <TableCell data-testid="token-scopes">
                <span className="flex gap-1">
                  {t.scopes.map((s) => (
                    <Badge key={s} tone={s === "admin" ? "warning" : s === "read" ? "info" : "neutral"} title={TOKEN_SCOPE_HELP[s]}>
                      {s}
                    </Badge>
                  ))}
                </span>
              </TableCell>
              <TableCell data-testid="token-expires">
                <Expiry token={t} />
              </TableCell>
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
