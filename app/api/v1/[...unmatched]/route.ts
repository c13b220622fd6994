// Any /api/v1 path no route handles: the API's JSON error (404 NOT_FOUND), not Next's HTML page, so
// the CLI and scripts can read what went wrong. More specific routes always win over this catch-all.
import { errorResponse } from "@/lib/auth/guards";
import { SandboxerError } from "@/lib/errors";

export const dynamic = "force-dynamic";

function notFound(req: Request): Response {
  const path = new URL(req.url).pathname.slice(0, 200);
  return errorResponse(
    new SandboxerError("NOT_FOUND", `There is no API route ${req.method} ${path}; the routes are listed in /api/v1/openapi.json`),
    "unmatched",
  );
}

export const GET = notFound;
export const POST = notFound;
export const PUT = notFound;
export const PATCH = notFound;
export const DELETE = notFound;
