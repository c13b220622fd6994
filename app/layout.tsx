import type { Metadata, Viewport } from "next";
import { connection } from "next/server";

import "./globals.css";
import { Providers } from "./components/providers";

export const metadata: Metadata = {
  title: { default: "sand-boxer", template: "%s · sand-boxer" },
  description: "Self-service sandboxes on the team's build VMs",
  // public/favicon.svg follows the system's light or dark theme; it is also the app icon.
  icons: { icon: [{ url: "/favicon.svg", type: "image/svg+xml" }], apple: "/favicon.svg" },
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
