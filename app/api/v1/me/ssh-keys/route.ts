// GET /api/v1/me/ssh-keys — the caller's SSH keys; POST — register one (validated, audited)
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";
import { addSshKey, listOwnSshKeys } from "@/lib/manager/ssh-keys";

export const dynamic = "force-dynamic";

export const GET = defineRoute(API_ROUTES.listSshKeys, async ({ actor }) => ({ keys: await listOwnSshKeys(manager(), actor) }));

export const POST = defineRoute(API_ROUTES.addSshKey, ({ actor, body }) => addSshKey(manager(), actor, body));
