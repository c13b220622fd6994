// GET /api/v1/me — who the credentials belong to (`sandboxer login` verifies a token with it)
import { defineRoute } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";
import { whoAmI } from "@/lib/manager/whoami";

export const dynamic = "force-dynamic";

export const GET = defineRoute({ name: "me" }, async (_req, actor) =>
  Response.json(await whoAmI(manager(), actor), { headers: { "cache-control": "no-store" } }),
);
