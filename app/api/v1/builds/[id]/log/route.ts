// GET /api/v1/builds/{id}/log — a build's log as JSON: the lines after ?after (at most 500) and the
// build, for scripts and the CLI (`sandboxer image log`, which polls it). The dashboard follows a
// running build on the team event stream instead (`build.log` / `build.changed` notices).
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { getImageBuild, imageBuildLog } from "@/lib/manager/images";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const GET = defineRoute(API_ROUTES.imageBuildLog, async ({ params: { id }, query: q }) => {
  const m = manager();
  const lines = await imageBuildLog(m, id, q.after);
  return Response.json({ lines, build: await getImageBuild(m, id) }, { headers: { "cache-control": "no-store" } });
});
