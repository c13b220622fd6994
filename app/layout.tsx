import type { Metadata, Viewport } from "next";
import { connection } from "next/server";

import "./globals.css";
import { Providers } from "./components/providers";

export const metadata: Metadata = {
  title: { default: "sand-boxer", template: "%s · sand-boxer" },
  description: "Self-service sandboxes on the team's build VMs",
};

export const viewport: Viewport = {
  colorScheme: "light dark",
};

export default async function RootLayout({ children }: { children: React.ReactNode }) {
  // Every page is rendered per request: its scripts must carry this response's CSP nonce (set by
  // server.ts), which a page prerendered at build time cannot know.
  await connection();
  return (
    <html lang="en">
      <body className="min-h-screen antialiased">
        <Providers>{children}</Providers>
      </body>
    </html>
  );
}
