import { AlertTriangle, BookOpen, Flame, Plus, Server } from "lucide-react";
import type { Metadata } from "next";
import Link from "next/link";

import { requirePageActor } from "@/lib/auth/guards";
import { formatIssue } from "@/lib/extensions/yaml-config";
import { manager } from "@/lib/manager/instance";
import { teamStreamCursor } from "@/lib/manager/team-stream";
import { renderShortMarkdown } from "@/lib/markdown";

import { LiveProfilePool } from "../../components/live-pool";
import { StreamFrom } from "../../components/live-updates";
import { PageHeader } from "../../components/page-header";
import { Badge } from "../../components/ui/badge";
import { Button } from "../../components/ui/button";
import { Card, CardContent, CardDescription, CardFooter, CardHeader, CardTitle } from "../../components/ui/card";
import { EmptyState } from "../../components/ui/empty-state";
import { CreateSandboxButton } from "./create-sandbox-form";

export const metadata: Metadata = { title: "Profiles" };

export default async function ProfilesPage() {
  await requirePageActor({ next: "/profiles" });
  // Read before the counts: the stream replays every change after it (pool counts follow it live).
  const cursor = await teamStreamCursor(manager());
  const profiles = await manager().listProfiles();
  // Profiles whose extension needs a build host that no host provides: Create is disabled, with why.
  const unavailable = await manager().profileAvailability();
  return (
    <>
      <StreamFrom after={cursor} />
      <PageHeader
        title="Profiles"
        description="Pick what kind of sandbox you need. Each profile says where it runs, how long it lives and how to use it."
      />
      {profiles.length === 0 ? (
        <EmptyState
          title="No profiles"
          description="Add a profile under profiles/*.yaml (see docs/extension-sdk.md) and restart the server."
        />
      ) : (
        <div className="grid gap-4 md:grid-cols-2 xl:grid-cols-3">
          {profiles.map((p) => (
            <Card key={p.id} data-testid={`profile-${p.id}`} className={p.usable ? "" : "border-destructive/50"}>
              <CardHeader>
                <div className="flex items-start justify-between gap-2">
                  <CardTitle>{p.title}</CardTitle>
                  {p.usable ? null : (
                    <Badge tone="danger">
                      <AlertTriangle className="size-3" aria-hidden /> invalid
                    </Badge>
                  )}
                </div>
                <CardDescription className="font-mono text-xs">{p.id}</CardDescription>
              </CardHeader>
              <CardContent className="space-y-3 text-sm">
                {p.description ? (
                  <div
                    className="text-muted-foreground [&_a]:text-primary [&_a]:underline [&_code]:rounded [&_code]:bg-muted [&_code]:px-1 [&_code]:font-mono [&_code]:text-[0.85em] [&_p+p]:mt-2"
                    data-testid="profile-description"
                    dangerouslySetInnerHTML={{ __html: renderShortMarkdown(p.description) }}
                  />
                ) : null}
                <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-1 text-xs">
                  <dt className="text-muted-foreground">Extension</dt>
                  <dd className="font-mono">{p.extension || "—"}</dd>
                  <dt className="text-muted-foreground">Target</dt>
                  <dd className="flex items-center gap-1">
                    <Server className="size-3" aria-hidden /> {p.target ?? "this server"}
                  </dd>
                  <dt className="text-muted-foreground">Lifetime</dt>
                  <dd>
                    {p.ttl || "—"} {p.maxTtl ? `(max ${p.maxTtl})` : ""}
                  </dd>
                  {p.pool ? (
                    <>
                      <dt className="text-muted-foreground">Warm pool</dt>
                      <dd className="flex items-center gap-1" data-testid="profile-pool">
                        <Flame className="size-3" aria-hidden />{" "}
                        <LiveProfilePool profileId={p.id} size={p.pool.size} ready={p.pool.ready} filling={p.pool.filling} />
                        <span className="text-muted-foreground">(max age {p.pool.maxAge})</span>
                      </dd>
                    </>
                  ) : null}
                </dl>
                {p.tags.length ? (
                  <div className="flex flex-wrap gap-1">
                    {p.tags.map((t) => (
                      <Badge key={t} tone="muted">
                        {t}
                      </Badge>
                    ))}
                  </div>
                ) : null}
                {p.errors.length ? (
                  <ul
                    className="space-y-1 rounded-md border border-destructive/40 bg-destructive/5 p-2 font-mono text-xs text-destructive"
                    data-testid="profile-errors"
                  >
                    {p.errors.map((e) => (
                      <li key={formatIssue(e)}>{formatIssue(e)}</li>
                    ))}
                  </ul>
                ) : null}
              </CardContent>
              <CardFooter className="justify-between">
                {p.runbook ? (
                  <a
                    href={p.runbook.startsWith("http") ? p.runbook : `/docs/${p.runbook.replace(/^docs\//, "")}`}
                    className="flex items-center gap-1 text-xs text-primary hover:underline"
                  >
                    <BookOpen className="size-3" aria-hidden /> Runbook
                  </a>
                ) : (
                  <span />
                )}
                {p.usable && unavailable[p.id] ? (
                  <div className="flex items-center gap-2" data-testid="profile-unavailable">
                    <span className="text-xs text-muted-foreground">
                      not available: {unavailable[p.id]} —{" "}
                      <Link href="/hosts" className="text-primary underline underline-offset-2">
                        hosts
                      </Link>
                    </span>
                    <Button size="sm" disabled aria-disabled title={`Not available: ${unavailable[p.id]}`}>
                      <Plus aria-hidden /> Create
                    </Button>
                  </div>
                ) : p.usable ? (
                  <CreateSandboxButton profile={p} />
                ) : null}
              </CardFooter>
            </Card>
          ))}
        </div>
      )}
    </>
  );
}
