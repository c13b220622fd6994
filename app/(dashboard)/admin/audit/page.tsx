import type { Metadata } from "next";
import Link from "next/link";

import { requirePageActor } from "@/lib/auth/guards";
import { withoutNulFields } from "@/lib/http/no-nul";
import { manager } from "@/lib/manager/instance";

import { PageHeader } from "../../../components/page-header";
import { Badge } from "../../../components/ui/badge";
import { Button } from "../../../components/ui/button";
import { Input } from "../../../components/ui/input";
import { Select, SelectContent, SelectItem, SelectTrigger, SelectValue } from "../../../components/ui/select";
import { ANY_VALUE } from "../../../components/ui/select-any";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../../../components/ui/table";

export const metadata: Metadata = { title: "Audit log" };

const ACTIONS = ["sandbox.create", "sandbox.destroy", "sandbox.teardown", "sandbox.extend", "host.", "user.", "token.", "auth.sign_in"];

export default async function AuditPage({ searchParams }: { searchParams: Promise<Record<string, string | undefined>> }) {
  const actor = await requirePageActor({ requires: "audit.read", next: "/admin/audit" });
  const sp = withoutNulFields(await searchParams); // a filter holding a NUL is no filter (PostgreSQL refuses it)
  const before = sp.before && /^\d+$/.test(sp.before) ? Number(sp.before) : undefined;
  const result = sp.result && ["ok", "denied", "failed"].includes(sp.result) ? sp.result : undefined;
  // The form's "any" choice (a select item cannot have an empty value) is no filter.
  const action = sp.action && sp.action !== ANY_VALUE ? sp.action : undefined;
  const entries = await manager().auditLog(actor, {
    action,
    result,
    target: sp.target?.slice(0, 100),
    beforeId: before,
    limit: 50,
  });
  const qs = (extra: Record<string, string | undefined>) => {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries({ action, result, target: sp.target, ...extra })) if (v) p.set(k, v);
    return `?${p.toString()}`;
  };
  return (
    <>
      <PageHeader
        title="Audit log"
        description="Who did what, when, from where, and whether it worked: creates, destroys with their teardown paths, refusals, role and token changes, failed sign-ins."
      />
      <form className="mb-4 flex flex-wrap items-end gap-2 text-sm" method="get">
        <Select name="action" defaultValue={action ?? ANY_VALUE}>
          <SelectTrigger aria-label="Action" className="h-8 w-48">
            <SelectValue />
          </SelectTrigger>
          <SelectContent>
            <SelectItem value={ANY_VALUE}>Any action</SelectItem>
            {ACTIONS.map((a) => (
              <SelectItem key={a} value={a}>
                {a.endsWith(".") ? `${a}*` : a}
              </SelectItem>
            ))}
          </SelectContent>
        </Select>
        <Select name="result" defaultValue={result ?? ANY_VALUE}>
          <SelectTrigger aria-label="Result" className="h-8 w-36">
            <SelectValue />
          </SelectTrigger>
          <SelectContent>
            <SelectItem value={ANY_VALUE}>Any result</SelectItem>
            <SelectItem value="ok">ok</SelectItem>
            <SelectItem value="denied">denied</SelectItem>
            <SelectItem value="failed">failed</SelectItem>
          </SelectContent>
        </Select>
        <Input
          name="target"
          defaultValue={sp.target ?? ""}
          placeholder="Target (sandbox id, email…)"
          aria-label="Target"
          className="h-8 w-64"
        />
        <Button type="submit" size="sm" variant="outline">
          Filter
        </Button>
      </form>
      <Table data-testid="audit-table">
        <TableHeader>
          <TableRow>
            <TableHead>When</TableHead>
            <TableHead>Actor</TableHead>
            <TableHead>Action</TableHead>
            <TableHead>Target</TableHead>
            <TableHead>Result</TableHead>
            <TableHead>Source</TableHead>
            <TableHead>Details</TableHead>
          </TableRow>
        </TableHeader>
        <TableBody>
          {entries.map((e) => (
            <TableRow key={e.id}>
              <TableCell className="whitespace-nowrap text-xs">
                <time dateTime={e.at}>{e.at.replace("T", " ").slice(0, 19)}</time>
              </TableCell>
              <TableCell className="max-w-[14rem] truncate text-xs">{e.actor ?? "—"}</TableCell>
              <TableCell className="font-mono text-xs">{e.action}</TableCell>
              <TableCell className="max-w-[12rem] truncate font-mono text-xs">{e.target ?? "—"}</TableCell>
              <TableCell>
                <Badge tone={e.result === "ok" ? "success" : e.result === "denied" ? "warning" : "danger"}>{e.result}</Badge>
              </TableCell>
              <TableCell className="font-mono text-xs">{e.sourceIp ?? "—"}</TableCell>
              <TableCell className="max-w-[28rem] break-words text-xs text-muted-foreground">{e.message}</TableCell>
            </TableRow>
          ))}
        </TableBody>
      </Table>
      <div className="mt-4 flex justify-end">
        {entries.length === 50 ? (
          <Button asChild variant="outline" size="sm">
            <Link href={qs({ before: String(entries.at(-1)!.id) })}>Older</Link>
          </Button>
        ) : null}
      </div>
    </>
  );
}
