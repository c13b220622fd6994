import type { Metadata } from "next";
import { notFound } from "next/navigation";

import { requirePageActor } from "@/lib/auth/guards";
import { isSandboxerError } from "@/lib/errors";
import { manager } from "@/lib/manager/instance";
import { isSandboxId } from "@/lib/sandbox-id";

import { SandboxDetail } from "./sandbox-detail";

export async function generateMetadata({ params }: { params: Promise<{ id: string }> }): Promise<Metadata> {
  return { title: `Sandbox ${(await params).id}` };
}

export default async function SandboxPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  const actor = await requirePageActor({ next: `/sandboxes/${id}` });
  if (!isSandboxId(id)) notFound();
  const m = manager();
  const loaded = await Promise.all([m.getSandboxDetail(id, actor), m.sandboxEvents(id)]).catch((e: unknown) => {
    if (isSandboxerError(e) && e.code === "NOT_FOUND") return null;
    throw e;
  });
  if (!loaded) notFound();
  const [detail, events] = loaded;
  return <SandboxDetail initial={detail} initialEvents={events} />;
}
