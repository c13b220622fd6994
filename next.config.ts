import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  // ssh2 may compile an optional native add-on (sshcrypto.node) that no bundler can place in a chunk.
  serverExternalPackages: ["ssh2", "pino", "pino-pretty", "prom-client"],
  poweredByHeader: false,
  // Tests and parallel work may build into another folder (e.g. SANDBOXER_DIST_DIR=.next-e2e).
  distDir: process.env.SANDBOXER_DIST_DIR ?? ".next",
  typedRoutes: false,
};

export default nextConfig;
