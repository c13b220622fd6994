// GET /api/v1/openapi.json — the OpenAPI 3.1 document of this API, generated from its zod schemas.
// Deliberately public (like most APIs' descriptions): it holds no data, only shapes, and tools that
// generate clients should not need a token to read it.
import { errorResponse } from "@/lib/auth/guards";
import { openApiDocument } from "@/lib/api/openapi";

export const dynamic = "force-dynamic";

export async function GET(): Promise<Response> {
  try {
    return Response.json(openApiDocument(), { headers: { "cache-control": "public, max-age=300" } });
  } catch (e) {
    return errorResponse(e, "openapi");
  }
}
