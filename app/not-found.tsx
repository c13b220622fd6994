import Link from "next/link";

import { Button } from "./components/ui/button";

export default function NotFound() {
  return (
    <main className="flex min-h-[60vh] flex-col items-center justify-center gap-3 px-4 text-center">
      <p className="text-sm font-medium text-muted-foreground">404</p>
      <h1 className="text-2xl font-semibold">Not found</h1>
      <p className="max-w-md text-sm text-muted-foreground">
        There is no page or sandbox here. It may have been destroyed long ago, or the link is mistyped.
      </p>
      <Button asChild variant="outline">
        <Link href="/">Back to the overview</Link>
      </Button>
    </main>
  );
}
