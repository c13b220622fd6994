import { Boxes } from "lucide-react";

export const dynamic = "force-dynamic";

export default function AuthLayout({ children }: { children: React.ReactNode }) {
  return (
    <main className="flex min-h-screen flex-col items-center justify-center gap-6 px-4 py-12">
      <div className="flex items-center gap-2 text-lg font-semibold tracking-tight">
        <Boxes className="size-6 text-primary" aria-hidden /> sand-boxer
      </div>
      <div className="w-full max-w-sm">{children}</div>
    </main>
  );
}
