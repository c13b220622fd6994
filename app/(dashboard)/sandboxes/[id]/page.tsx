import type { Metadata } from "next";
import { notFound } from "next/navigation";

import { actorUserId } from "@/lib/auth/actor";
import { requirePageActor } from "@/lib/auth/guards";
import { can } from "@/lib/auth/policy";
import { gatewayInfo } from "@/lib/gateway/instance";
import { isSandboxerError } from "@/lib/errors";
import { manager } from "@/lib/manager/instance";
import { listOwnSshKeys } from "@/lib/manager/ssh-keys";
import { teamStreamCursor } from "@/lib/manager/team-stream";
import { sandboxSshSessions } from "@/lib/manager/ssh-sessions";
import { isSandboxId } from "@/lib/sandbox-id";

import { StreamFrom } from "../../../components/live-updates";

import { GatewayCard } from "./gateway-card";
import { SandboxDetail } from "./sandbox-detail";

export async function generateMetadata({ params }: { params: Promise<{ id: string }> }): Promise<Metadata> {
  return { title: `Sandbox ${(await params).id}` };
}

export default async function SandboxPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  const actor = await requirePageActor({ next: `/sandboxes/${id}` });
  if (!isSandboxId(id)) notFound();
  const m = manager();
  const cursor = await teamStreamCursor(m); // before the sandbox: the stream brings what changes after it
  const loaded = await Promise.all([m.getSandboxDetail(id, actor), m.sandboxEvents(id)]).catch((e: unknown) => {
    if (isSandboxerError(e) && e.code === "NOT_FOUND") return null;
    throw e;
  });
  if (!loaded) notFound();
  const [detail, events] = loaded;
  const [sessions, keys] = await Promise.all([sandboxSshSessions(m, id), actorUserId(actor) ? listOwnSshKeys(m, actor) : []]);
  const h = detail.handle;
  return (
    <>
      <StreamFrom after={cursor} />
      <SandboxDetail initial={detail} initialEvents={events} />
      {h?.port ? (
        <div className="mt-6">
          <GatewayCard
            sandboxId={id}
            ready={detail.status === "ready"}
            workspacePath={h.workspacePath ?? null}
            gateway={gatewayInfo()}
            sessions={sessions}
            canEnd={can(actor, "sandbox.destroy_any")}
            hasKeys={keys.length > 0}
          />
        </div>
      ) : null}
    </>
  );
}
