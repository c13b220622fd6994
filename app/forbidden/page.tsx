import type { Metadata } from "next";
import Link from "next/link";

import { Button } from "../components/ui/button";

export const metadata: Metadata = { title: "Not allowed" };

export default function ForbiddenPage() {
  return (
    <main className="flex min-h-[60vh] flex-col items-center justify-center gap-3 px-4 text-center">
      <p className="text-sm font-medium text-muted-foreground">403</p>
      <h1 className="text-2xl font-semibold">Admins only</h1>
      <p className="max-w-md text-sm text-muted-foreground">
        This page needs the admin role. Ask an admin to change your role on the Users page.
      </p>
      <Button asChild variant="outline">
        <Link href="/">Back to the overview</Link>
      </Button>
    </main>
  );
}
