"use client";

import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";

import { Select, SelectContent, SelectItem, SelectTrigger, SelectValue } from "../../../components/ui/select";
import { setRoleAction } from "./actions";

export function RoleSelect({ userId, role, self }: { userId: string; role: "admin" | "member"; self: boolean }) {
  const router = useRouter();
  const [pending, startTransition] = useTransition();
  const [error, setError] = useState<string | null>(null);
  const [value, setValue] = useState(role);
  return (
    <div className="flex items-center gap-2">
      <Select
        value={value}
        disabled={pending}
        onValueChange={(v) => {
          const next = v as "admin" | "member";
          setError(null);
          setValue(next);
          startTransition(async () => {
            const r = await setRoleAction({ userId, role: next });
            if (!r.ok) {
              setError(r.message);
              setValue(role);
            }
            router.refresh();
          });
        }}
      >
        <SelectTrigger aria-label="Role" className="h-8 w-28">
          <SelectValue />
        </SelectTrigger>
        <SelectContent>
          <SelectItem value="member">member</SelectItem>
          <SelectItem value="admin">admin</SelectItem>
        </SelectContent>
      </Select>
      {self ? <span className="text-xs text-muted-foreground">(you)</span> : null}
      {error ? (
        <span role="alert" className="text-xs text-destructive">
          {error}
        </span>
      ) : null}
    </div>
  );
}
