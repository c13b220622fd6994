import type { Metadata } from "next";

import { can } from "@/lib/auth/policy";
import { requirePageActor } from "@/lib/auth/guards";
import { getImageBuild, imageBuildLogTail } from "@/lib/manager/images";
import { manager } from "@/lib/manager/instance";
import { teamStreamCursor } from "@/lib/manager/team-stream";

import { StreamFrom } from "../../../../components/live-updates";
import { PageHeader } from "../../../../components/page-header";
import { BuildLog } from "./build-log";

export const metadata: Metadata = { title: "Image build" };

export default async function BuildPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  const actor = await requirePageActor({ next: `/images/builds/${id}` });
  // Read before the data: the team stream replays every notice after it (lines are appended by id).
  const cursor = await teamStreamCursor(manager());
  const build = await getImageBuild(manager(), id);
  const { lines, earlier } = await imageBuildLogTail(manager(), id, 5000);
  return (
    <>
      <StreamFrom after={cursor} />
      <PageHeader
        title={`Build of ${build.image} ${build.version}`}
        description={
          build.hostId ? `Rebuild of ${build.hostId} in place, started by ${build.actor ?? "?"}` : `Started by ${build.actor ?? "?"}`
        }
      />
      <BuildLog build={build} initial={lines} earlier={earlier} canCancel={can(actor, "host.manage")} />
    </>
  );
}
