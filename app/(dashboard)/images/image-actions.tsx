"use client";

import { Hammer, Tag, Undo2 } from "lucide-react";
import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";

import { Button } from "../../components/ui/button";
import { Select, SelectContent, SelectItem, SelectTrigger, SelectValue } from "../../components/ui/select";
import { revokeVersionAction, setChannelAction, startBuildAction } from "./actions";

type Result = { ok: boolean; message?: string };

/** The build target "no host" (host ids never contain parentheses). */
const ARTIFACT = "(artifact)";

function useRun() {
  const router = useRouter();
  const [pending, start] = useTransition();
  const [error, setError] = useState<string | null>(null);
  const run = <R extends Result>(fn: () => Promise<R>, after?: (r: R) => void) =>
    start(async () => {
      setError(null);
      const r = await fn();
      if (!r.ok) setError(r.message ?? "That did not work");
      else after?.(r);
      router.refresh();
    });
  return { pending, error, run };
}

export function BuildButton({ image, hosts }: { image: string; hosts: { id: string; title: string }[] }) {
  const router = useRouter();
  const { pending, error, run } = useRun();
  const [hostId, setHostId] = useState(ARTIFACT);
  return (
    <span className="inline-flex flex-wrap items-center gap-2">
      <Select value={hostId} onValueChange={setHostId}>
        <SelectTrigger aria-label={`Where to build ${image}`} className="h-8 w-64 text-xs">
          <SelectValue />
        </SelectTrigger>
        <SelectContent>
          <SelectItem value={ARTIFACT}>Build an artifact (no host)</SelectItem>
          {hosts.map((h) => (
            <SelectItem key={h.id} value={h.id}>
              Rebuild {h.title} in place
            </SelectItem>
          ))}
        </SelectContent>
      </Select>
      <Button
        size="sm"
        disabled={pending}
        data-testid={`build-${image}`}
        onClick={() =>
          run(
            () => startBuildAction({ image, hostId: hostId === ARTIFACT ? undefined : hostId }),
            (r) => router.push(`/images/builds/${(r as unknown as { data: { id: string } }).data.id}`),
          )
        }
      >
        <Hammer aria-hidden /> Build
      </Button>
      {error ? (
        <span role="alert" className="text-xs text-destructive">
          {error}
        </span>
      ) : null}
    </span>
  );
}

export function VersionActions({ image, version, revoked }: { image: string; version: string; revoked: boolean }) {
  const { pending, error, run } = useRun();
  return (
    <span className="inline-flex flex-wrap items-center gap-2">
      {!revoked ? (
        <>
          <Button
            variant="outline"
            size="sm"
            disabled={pending}
            onClick={() => {
              const channel = window.prompt(`Point which channel at ${image} ${version}?`, "stable");
              if (channel) run(() => setChannelAction({ image, channel, version }));
            }}
          >
            <Tag aria-hidden /> Set channel…
          </Button>
          <Button
            variant="ghost"
            size="sm"
            className="text-destructive"
            disabled={pending}
            onClick={() => {
              const reason = window.prompt(`Revoke ${image} ${version}? Hosts running it are drained. Reason:`);
              if (reason !== null) run(() => revokeVersionAction({ image, version, reason: reason || undefined }));
            }}
          >
            <Undo2 aria-hidden /> Revoke…
          </Button>
        </>
      ) : null}
      {error ? (
        <span role="alert" className="text-xs text-destructive">
          {error}
        </span>
      ) : null}
    </span>
  );
}
