// GET /api/v1/openapi.json — the OpenAPI 3.1 document of this API, generated from its zod schemas.
// Deliberately public (like most APIs' descriptions): it holds no data, only shapes, and tools that
// generate clients should not need a token to read it.
import { API_ROUTES, openApiDocument } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";

export const dynamic = "force-dynamic";

export const GET = defineRoute(API_ROUTES.getOpenApiDocument, async () =>
  Response.json(openApiDocument(), { headers: { "cache-control": "public, max-age=300" } }),
);
