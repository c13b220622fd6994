"use client";

import * as DropdownMenu from "@radix-ui/react-dropdown-menu";
import { ChevronDown, KeyRound, KeySquare, LogOut, Terminal } from "lucide-react";
import Link from "next/link";
import { useRouter } from "next/navigation";

export function UserMenu({ email, role }: { email: string; role: string }) {
  const router = useRouter();
  async function signOut() {
    await fetch("/api/auth/sign-out", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    router.push("/sign-in");
    router.refresh();
  }
  return (
    <DropdownMenu.Root>
      <DropdownMenu.Trigger
        className="flex items-center gap-2 rounded-md px-2 py-1.5 text-sm hover:bg-muted focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-ring"
        data-testid="user-menu"
      >
        <span className="max-w-[16rem] truncate">{email}</span>
        <span className="rounded bg-muted px-1.5 py-0.5 text-xs text-muted-foreground">{role}</span>
        <ChevronDown className="size-4 text-muted-foreground" />
      </DropdownMenu.Trigger>
      <DropdownMenu.Portal>
        <DropdownMenu.Content
          align="end"
          sideOffset={6}
          className="z-50 min-w-44 rounded-md border border-border bg-background p-1 shadow-md"
        >
          <DropdownMenu.Item
            asChild
            className="flex cursor-pointer items-center gap-2 rounded px-2 py-1.5 text-sm outline-none data-[highlighted]:bg-muted"
          >
            <Link href="/settings/tokens">
              <KeyRound className="size-4" /> API tokens
            </Link>
          </DropdownMenu.Item>
          <DropdownMenu.Item
            asChild
            className="flex cursor-pointer items-center gap-2 rounded px-2 py-1.5 text-sm outline-none data-[highlighted]:bg-muted"
          >
            <Link href="/settings/ssh-keys">
              <KeySquare className="size-4" /> SSH keys
            </Link>
          </DropdownMenu.Item>
          <DropdownMenu.Item
            asChild
            className="flex cursor-pointer items-center gap-2 rounded px-2 py-1.5 text-sm outline-none data-[highlighted]:bg-muted"
          >
            <Link href="/cli">
              <Terminal className="size-4" /> Command line
            </Link>
          </DropdownMenu.Item>
          <DropdownMenu.Separator className="my-1 h-px bg-border" />
          <DropdownMenu.Item
            onSelect={() => void signOut()}
            className="flex cursor-pointer items-center gap-2 rounded px-2 py-1.5 text-sm outline-none data-[highlighted]:bg-muted"
          >
            <LogOut className="size-4" /> Sign out
          </DropdownMenu.Item>
        </DropdownMenu.Content>
      </DropdownMenu.Portal>
    </DropdownMenu.Root>
  );
}
