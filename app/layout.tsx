import type { Metadata, Viewport } from "next";

import "./globals.css";
import { Providers } from "./components/providers";

export const metadata: Metadata = {
  title: { default: "sand-boxer", template: "%s · sand-boxer" },
  description: "Self-service sandboxes on the team's build VMs",
};

export const viewport: Viewport = {
  colorScheme: "light dark",
};

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body className="min-h-screen antialiased">
        <Providers>{children}</Providers>
      </body>
    </html>
  );
}
