// Turns the overview's and the API's query parameters into a manager filter.
import type { z } from "zod";

import { actorUserId, type Actor } from "../auth/actor";
import type { SandboxFilter } from "../db/sandboxes";
import { SANDBOX_STATUSES } from "../manager/states";
import type { listSandboxesQuery } from "./schemas";

export function toSandboxFilter(q: z.output<typeof listSandboxesQuery>, actor: Actor): SandboxFilter {
  const me = actorUserId(actor) ?? undefined;
  return {
    status: q.status?.length ? q.status : q.all ? [...SANDBOX_STATUSES] : undefined,
    ownerId: q.mine || q.owner === "me" ? me : q.owner || undefined,
    profileId: q.profile || undefined,
    hostId: q.host || undefined,
    q: q.q || undefined,
    recentlyDestroyed: q.recent || undefined,
  };
}
