import { Boxes } from "lucide-react";
import Link from "next/link";

import { actorUserId } from "@/lib/auth/actor";
import { requirePageActor } from "@/lib/auth/guards";
import { can } from "@/lib/auth/policy";

import { LiveUpdates } from "../components/live-updates";
import { NavLinks, type NavItem } from "../components/nav-links";
import { UserMenu } from "../components/user-menu";

// Every page reads the database and the session: never prerender.
export const dynamic = "force-dynamic";

export default async function DashboardLayout({ children }: { children: React.ReactNode }) {
  const actor = await requirePageActor();
  const admin = can(actor, "people.manage");
  const items: NavItem[] = [
    { href: "/", label: "Overview" },
    { href: "/profiles", label: "Profiles" },
    { href: "/hosts", label: "Hosts" },
    { href: "/images", label: "Images" },
    ...(admin
      ? [
          { href: "/admin/users", label: "Users" },
          { href: "/admin/audit", label: "Audit log" },
        ]
      : []),
  ];
  return (
    <div className="flex min-h-screen flex-col">
      <header className="sticky top-0 z-30 border-b border-border bg-background/95 backdrop-blur">
        <div className="mx-auto flex h-14 max-w-7xl items-center gap-6 px-4">
          <Link href="/" className="flex items-center gap-2 font-semibold tracking-tight">
            <Boxes className="size-5 text-primary" aria-hidden />
            sand-boxer
          </Link>
          <NavLinks items={items} />
          <div className="ml-auto flex items-center gap-4">
            <LiveUpdates viewerId={actorUserId(actor) ?? ""} />
            <UserMenu email={actor.label} role={actor.kind === "system" ? "system" : actor.role} />
          </div>
        </div>
      </header>
      <main className="mx-auto w-full max-w-7xl flex-1 px-4 py-6">{children}</main>
    </div>
  );
}
