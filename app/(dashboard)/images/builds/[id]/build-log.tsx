"use client";
// A build's log, live: the page renders what exists, then the team event stream (one connection per
// browser, shared with every other page) brings the lines as Packer prints them — `build.log` notices,
// appended by id — and `build.changed` when the build starts or ends (the build is fetched again).
// While the stream is down the page asks the API for the lines after the last it has, every 15 s (the
// dashboard's one slow fallback); after a `reset` (the stream could not replay the gap) once.
import { Square } from "lucide-react";
import { useCallback, useEffect, useRef, useState, useTransition } from "react";

import type { BuildLogLineView, ImageBuildView } from "@/lib/manager/images";

import { mergeLines } from "../../../../lib/build-log-lines";
import { FALLBACK_POLL_MS, useTeamEvent, useTeamStreamUp } from "../../../../lib/team-stream";
import { Badge } from "../../../../components/ui/badge";
import { Button } from "../../../../components/ui/button";
import { cancelBuildAction } from "../../actions";

export function BuildLog({
  build: initialBuild,
  initial,
  earlier = false,
  canCancel,
}: {
  build: ImageBuildView;
  initial: BuildLogLineView[];
  /** Lines before `initial` exist (the page shows a long log's last lines). */
  earlier?: boolean;
  canCancel: boolean;
}) {
  const [lines, setLines] = useState(initial);
  const [build, setBuild] = useState(initialBuild);
  const [pending, start] = useTransition();
  const [error, setError] = useState<string | null>(null);
  const bottom = useRef<HTMLDivElement>(null);
  const lastId = useRef(initial.at(-1)?.id ?? 0);
  const ended = !["queued", "running"].includes(build.state);
  const up = useTeamStreamUp();
  const id = initialBuild.id;

  useEffect(() => {
    lastId.current = lines.at(-1)?.id ?? 0;
  }, [lines]);

  /** The lines after the last shown, and the build, from the API (the stream's fallback). */
  const catchUp = useCallback(async () => {
    const res = await fetch(`/api/v1/builds/${encodeURIComponent(id)}/log?after=${lastId.current}`, { cache: "no-store" }).catch(
      () => null, // offline: the next poll or notice tries again
    );
    if (!res?.ok) return;
    const body = (await res.json()) as { lines: BuildLogLineView[]; build: ImageBuildView };
    setLines((prev) => mergeLines(prev, body.lines));
    setBuild(body.build);
  }, [id]);

  useTeamEvent((frame) => {
    if (frame.type === "reset") void catchUp();
    if (frame.type !== "team") return;
    const { topic, data } = frame.data;
    if (topic === "build.log") {
      const n = data as { buildId: string; lines: BuildLogLineView[] };
      if (n.buildId === id) setLines((prev) => mergeLines(prev, n.lines));
    } else if (topic === "build.changed" && (data as { buildId: string }).buildId === id) {
      // The notice comes after the build's last lines: its state at once, then the rest of the build
      // (error, offered host key) from the API.
      const { state } = data as { state: string };
      setBuild((b) => ({ ...b, state }));
      void catchUp();
    }
  });

  useEffect(() => {
    if (up || ended) return;
    const t = setInterval(() => void catchUp(), FALLBACK_POLL_MS);
    return () => clearInterval(t);
  }, [up, ended, catchUp]);

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
        {earlier ? (
          <div className="text-muted-foreground" data-testid="build-log-earlier">
            … earlier lines are not shown here; the whole log: GET /api/v1/builds/{id}/log?after=0 (pages of 500)
          </div>
        ) : null}
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
