"use client";

import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";

import { setRoleAction } from "./actions";

export function RoleSelect({ userId, role, self }: { userId: string; role: "admin" | "member"; self: boolean }) {
  const router = useRouter();
  const [pending, startTransition] = useTransition();
  const [error, setError] = useState<string | null>(null);
  return (
    <div className="flex items-center gap-2">
      <select
        aria-label="Role"
        className="h-8 rounded-md border border-border bg-background px-2 text-sm"
        defaultValue={role}
        disabled={pending}
        onChange={(e) => {
          const next = e.target.value as "admin" | "member";
          setError(null);
          startTransition(async () => {
            const r = await setRoleAction({ userId, role: next });
            if (!r.ok) {
              setError(r.message);
              e.target.value = role;
            }
            router.refresh();
          });
        }}
      >
        <option value="member">member</option>
        <option value="admin">admin</option>
      </select>
      {self ? <span className="text-xs text-muted-foreground">(you)</span> : null}
      {error ? (
        <span role="alert" className="text-xs text-destructive">
          {error}
        </span>
      ) : null}
    </div>
  );
}
