import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  // ssh2 may compile an optional native add-on (sshcrypto.node) that no bundler can place in a chunk.
  serverExternalPackages: ["ssh2", "pino", "prom-client"],
  poweredByHeader: false,
  typedRoutes: false,
};

export default nextConfig;
