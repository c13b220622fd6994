import fs from "node:fs";
import path from "node:path";

import type { NextConfig } from "next";

const { version } = JSON.parse(fs.readFileSync(path.join(process.cwd(), "package.json"), "utf8")) as { version: string };

const nextConfig: NextConfig = {
  // ssh2 may compile an optional native add-on (sshcrypto.node) that no bundler can place in a chunk.
  serverExternalPackages: ["ssh2", "pino", "pino-pretty", "prom-client"],
  poweredByHeader: false,
  // Tests and parallel work may build into another folder (e.g. SANDBOXER_DIST_DIR=.next-e2e).
  distDir: process.env.SANDBOXER_DIST_DIR ?? ".next",
  typedRoutes: false,
  compiler: {
    async runAfterProductionCompile({ projectDir, distDir }) {
      // The single-file `sandboxer` CLI the server serves at /cli/sandboxer.cjs, built with every build.
      const { buildCliBundle, cliBundleFile } = await import("./scripts/build-cli.mjs");
      await buildCliBundle({ projectDir, outFile: cliBundleFile(path.resolve(projectDir, distDir)) });
      // The server's chunks as one-byte strings in V8: characters beyond Latin-1 as \u escapes (the
      // script says why; about 10 MB less resident memory).
      const { latin1ServerChunks } = await import("./scripts/latin1-server-chunks.mjs");
      latin1ServerChunks(path.resolve(projectDir, distDir));
    },
  },
  // The CLI compares this with its own version and says when they differ (cli/api-client.ts).
  async headers() {
    return [{ source: "/api/v1/:path*", headers: [{ key: "x-sandboxer-version", value: version }] }];
  },
};

export default nextConfig;
