// DELETE /api/v1/me/ssh-keys/{id} — remove one of the caller's SSH keys (audited)
import { API_ROUTES } from "@/lib/api/openapi";
import { defineRoute } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";
import { removeSshKey } from "@/lib/manager/ssh-keys";

export const dynamic = "force-dynamic";

export const DELETE = defineRoute(API_ROUTES.removeSshKey, ({ actor, params }) => removeSshKey(manager(), actor, params.id));
