// GET /cli/sandboxer.cjs — the `sandboxer` CLI as one file that needs only Node (built by `next build`,
// scripts/build-cli.mjs). Deliberately public, like Coder's /bin downloads: it is the same code as the
// repository's cli/, holds no configuration or secret, and a first `curl` has no token yet.
import { readCliBundle } from "@/lib/cli-download";
import { env } from "@/lib/env";

export const dynamic = "force-dynamic";

export function GET(request: Request): Response {
  const bundle = readCliBundle(env().distDir);
  if (!bundle) {
    return new Response("This server's build has no CLI bundle: run `npm run build` (or `node scripts/build-cli.mjs`).\n", {
      status: 404,
      headers: { "content-type": "text/plain; charset=utf-8" },
    });
  }
  // A new server version brings a new file: clients revalidate every time and usually get a 304.
  const headers = {
    etag: bundle.etag,
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
  };
  if (request.headers.get("if-none-match") === bundle.etag) return new Response(null, { status: 304, headers });
  return new Response(new Uint8Array(bundle.body), {
    headers: {
      ...headers,
      "content-type": "text/javascript; charset=utf-8",
      "content-disposition": 'attachment; filename="sandboxer.cjs"',
    },
  });
}
