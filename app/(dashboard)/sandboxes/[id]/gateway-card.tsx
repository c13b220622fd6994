"use client";
// How to enter the sandbox through the server's SSH gateway (a copyable command, a VS Code link, the
// gateway's fingerprint) and its SSH sessions, which admins can end.
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";

import type { GatewayInfo } from "@/lib/gateway/instance";
import type { SshSessionView } from "@/lib/manager/ssh-sessions";

import { formatBytes } from "../../../components/format-bytes";
import { RelativeTime } from "../../../components/relative-time";
import { Button } from "../../../components/ui/button";
import { Card, CardContent, CardHeader, CardTitle } from "../../../components/ui/card";
import { CopyField } from "../../../components/ui/copy-field";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../../../components/ui/table";
import { endSshSessionAction } from "./actions";

export function GatewayCard(props: {
  sandboxId: string;
  ready: boolean;
  workspacePath: string | null;
  gateway: GatewayInfo | null;
  sessions: SshSessionView[];
  canEnd: boolean;
  hasKeys: boolean;
}) {
  const router = useRouter();
  const [pending, startTransition] = useTransition();
  const [error, setError] = useState<string | null>(null);
  const { gateway, sandboxId } = props;
  const command = gateway ? `ssh -p ${gateway.port} ${sandboxId}@${gateway.host}` : null;
  const vscode = props.workspacePath ? `vscode://vscode-remote/ssh-remote+sbx-${sandboxId}${props.workspacePath}` : null;
  function end(id: string) {
    setError(null);
    startTransition(async () => {
      const r = await endSshSessionAction({ id });
      if (!r.ok) setError(r.message);
      router.refresh();
    });
  }
  return (
    <Card>
      <CardHeader>
        <CardTitle>SSH</CardTitle>
      </CardHeader>
      <CardContent className="space-y-4 text-sm">
        {gateway && props.ready && command ? (
          <div className="space-y-2">
            <p className="text-xs text-muted-foreground">
              Enter the workspace through the server&apos;s SSH gateway
              {props.hasKeys ? "" : " (register a key under SSH keys first)"}:
            </p>
            <CopyField value={command} label="gateway ssh command" testId="gateway-ssh-command" />
            <p className="text-xs text-muted-foreground">
              Gateway host key <code className="font-mono">{gateway.fingerprint}</code>. For{" "}
              <code className="font-mono">ssh sbx-{sandboxId}</code>, scp, rsync and VS Code, run{" "}
              <code className="font-mono">sandboxer config-ssh</code> once
              {vscode ? (
                <>
                  , then{" "}
                  <a className="underline" href={vscode} data-testid="vscode-link">
                    open in VS Code
                  </a>
                </>
              ) : null}
              .{" "}
              {props.hasKeys ? null : (
                <Link href="/settings/ssh-keys" className="underline">
                  Add an SSH key
                </Link>
              )}
            </p>
          </div>
        ) : (
          <p className="text-muted-foreground">
            {gateway ? "The sandbox can be entered once it is ready." : "The SSH gateway is off on this server."}
          </p>
        )}
        {error ? (
          <p role="alert" className="text-destructive">
            {error}
          </p>
        ) : null}
        {props.sessions.length > 0 ? (
          <Table>
            <TableHeader>
              <TableRow>
                <TableHead>Who</TableHead>
                <TableHead>From</TableHead>
                <TableHead>What</TableHead>
                <TableHead>Started</TableHead>
                <TableHead>In / out</TableHead>
                <TableHead>End</TableHead>
              </TableRow>
            </TableHeader>
            <TableBody data-testid="ssh-sessions">
              {props.sessions.map((s) => (
                <TableRow key={s.id}>
                  <TableCell>{s.user}</TableCell>
                  <TableCell className="font-mono text-xs">{s.sourceIp}</TableCell>
                  <TableCell>{s.kind}</TableCell>
                  <TableCell>
                    <RelativeTime iso={s.startedAt} />
                  </TableCell>
                  <TableCell className="text-xs">
                    {formatBytes(s.bytesIn)} / {formatBytes(s.bytesOut)}
                  </TableCell>
                  <TableCell className="text-xs">
                    {s.endedAt ? (
                      <span title={s.endReason ?? ""}>
                        {s.exitSignal ? `signal ${s.exitSignal}` : s.exitCode !== null ? `exit ${s.exitCode}` : "ended"}
                      </span>
                    ) : props.canEnd ? (
                      <Button
                        variant="ghost"
                        size="sm"
                        className="text-destructive"
                        disabled={pending || s.closeRequested}
                        onClick={() => end(s.id)}
                      >
                        {s.closeRequested ? "Ending…" : "End session"}
                      </Button>
                    ) : (
                      "open"
                    )}
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        ) : null}
      </CardContent>
    </Card>
  );
}
