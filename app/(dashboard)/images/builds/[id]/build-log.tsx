"use client";
// A build's log, live: the page renders what exists, then the API's event stream appends lines as
// Packer prints them (EventSource resumes after the last id on its own) until `end`.
import { Square } from "lucide-react";
import { useEffect, useRef, useState, useTransition } from "react";

import type { BuildLogLineView, ImageBuildView } from "@/lib/manager/images";

import { Badge } from "../../../../components/ui/badge";
import { Button } from "../../../../components/ui/button";
import { cancelBuildAction } from "../../actions";

export function BuildLog({
  build: initialBuild,
  initial,
  canCancel,
}: {
  build: ImageBuildView;
  initial: BuildLogLineView[];
  canCancel: boolean;
}) {
  const [lines, setLines] = useState(initial);
  const [build, setBuild] = useState(initialBuild);
  const [pending, start] = useTransition();
  const [error, setError] = useState<string | null>(null);
  const bottom = useRef<HTMLDivElement>(null);
  const ended = !["queued", "running"].includes(build.state);

  useEffect(() => {
    if (ended) return;
    const after = initial.at(-1)?.id ?? 0;
    const es = new EventSource(`/api/v1/builds/${encodeURIComponent(initialBuild.id)}/log?format=sse&after=${after}`);
    es.addEventListener("line", (e) => {
      const line = JSON.parse((e as MessageEvent<string>).data) as BuildLogLineView;
      setLines((prev) => (prev.some((l) => l.id === line.id) ? prev : [...prev, line]));
    });
    es.addEventListener("end", (e) => {
      setBuild(JSON.parse((e as MessageEvent<string>).data) as ImageBuildView);
      es.close();
    });
    return () => es.close();
    // Subscribe once per build page.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    bottom.current?.scrollIntoView({ block: "end" });
  }, [lines.length]);

  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-center gap-3">
        <Badge
          tone={
            build.state === "succeeded" ? "success" : build.state === "failed" ? "danger" : build.state === "running" ? "info" : "neutral"
          }
          data-testid="build-state"
        >
          {build.state}
        </Badge>
        {build.error ? <span className="text-sm text-destructive">{build.error}</span> : null}
        {build.offeredHostKey ? (
          <span className="text-sm">
            The VM now offers <code className="font-mono text-xs">{build.offeredHostKey}</code>: confirm it on the Hosts page.
          </span>
        ) : null}
        {canCancel && !ended ? (
          <Button
            variant="outline"
            size="sm"
            disabled={pending}
            onClick={() =>
              start(async () => {
                const r = await cancelBuildAction({ buildId: build.id });
                if (!r.ok) setError(r.message ?? "Could not cancel");
              })
            }
          >
            <Square aria-hidden /> Cancel
          </Button>
        ) : null}
        {error ? (
          <span role="alert" className="text-xs text-destructive">
            {error}
          </span>
        ) : null}
      </div>
      <div
        className="max-h-[32rem] overflow-auto whitespace-pre-wrap break-all rounded-md border border-border bg-muted p-3 font-mono text-xs leading-relaxed"
        data-testid="build-log"
        aria-live="polite"
      >
        {lines.map((l) => (
          <div
            key={l.id}
            className={l.level === "error" ? "text-destructive" : l.level === "warn" ? "text-amber-700 dark:text-amber-300" : undefined}
          >
            {l.message}
          </div>
        ))}
        <div ref={bottom} />
      </div>
    </div>
  );
}
