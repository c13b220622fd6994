// GET /api/v1/hosts — the build hosts with health, free space and sandboxes against capacity
import { defineRoute } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";

export const dynamic = "force-dynamic";

export const GET = defineRoute({ name: "hosts.list" }, async () => Response.json(await manager().listHosts()));
