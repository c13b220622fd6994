import { Boxes } from "lucide-react";
import type { Metadata } from "next";
import Link from "next/link";

import { toSandboxFilter } from "@/lib/api/filters";
import { listSandboxesQuery } from "@/lib/api/schemas";
import { actorUserId } from "@/lib/auth/actor";
import { can } from "@/lib/auth/policy";
import { requirePageActor } from "@/lib/auth/guards";
import { withoutNulFields } from "@/lib/http/no-nul";
import { manager } from "@/lib/manager/instance";
import { teamStreamCursor } from "@/lib/manager/team-stream";

import { StreamFrom } from "../components/live-updates";
import { PageHeader } from "../components/page-header";
import { Button } from "../components/ui/button";
import { EmptyState } from "../components/ui/empty-state";
import type { ListFilters } from "../lib/api-client";
import { SandboxTable } from "./_components/sandbox-table";

export const metadata: Metadata = { title: "Overview" };

export default async function OverviewPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const actor = await requirePageActor({ next: "/" });
  // A filter holding a NUL is dropped like any other it cannot use (PostgreSQL would refuse the query).
  const raw = Object.fromEntries(
    Object.entries(withoutNulFields(await searchParams)).filter((e): e is [string, string] => typeof e[1] === "string"),
  );
  // With no status filter the overview adds the recently destroyed ones, shown as their own group.
  if (!raw.status) raw.recent = "1";
  const parsed = listSandboxesQuery.safeParse(raw);
  const query = parsed.success ? parsed.data : listSandboxesQuery.parse({});
  const m = manager();
  const cursor = await teamStreamCursor(m); // before the list: the stream brings what changes after it
  const [list, people] = await Promise.all([m.listSandboxes(toSandboxFilter(query, actor), query.page, query.pageSize), m.listPeople()]);
  const filters: ListFilters = {};
  for (const key of ["status", "owner", "profile", "mine", "page", "q", "recent"] as const) if (raw[key]) filters[key] = raw[key];
  const anyFilter = Object.keys(filters).some((k) => k !== "page" && k !== "recent");
  const profiles = (await m.listProfiles()).filter((p) => p.usable).map((p) => ({ id: p.id, title: p.title }));

  return (
    <>
      <PageHeader
        title="Overview"
        description="Every active sandbox of the team. Destroy removes exactly the workspace shown in its confirmation."
        actions={
          <Button asChild>
            <Link href="/profiles">New sandbox</Link>
          </Button>
        }
      />
      <StreamFrom after={cursor} />
      <SandboxTable
        initial={list}
        filters={filters}
        viewer={{ id: actorUserId(actor) ?? "", admin: can(actor, "sandbox.destroy_any") }}
        people={people.map((p) => ({ id: p.id, email: p.email }))}
        profiles={profiles}
        // Shown while the (unfiltered) list is empty; the team stream replaces it with the first sandbox.
        empty={
          anyFilter ? null : (
            <EmptyState
              icon={<Boxes />}
              title="No active sandboxes"
              description="Nobody on the team has a sandbox right now. Pick a profile to create one: a workspace on a build VM, ready in seconds."
              action={
                <Button asChild>
                  <Link href="/profiles">Browse profiles</Link>
                </Button>
              }
            />
          )
        }
      />
    </>
  );
}
