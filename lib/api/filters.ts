// Turns the overview's and the API's query parameters into a manager filter.
import type { z } from "zod";

import { actorUserId, type Actor } from "../auth/actor";
import type { SandboxFilter } from "../db/sandboxes";
import { SANDBOX_STATUSES } from "../manager/states";
import type { listSandboxesQuery } from "./schemas";

export function toSandboxFilter(q: z.output<typeof listSandboxesQuery>, actor: Actor): SandboxFilter {
  const me = actorUserId(actor) ?? undefined;
  const mine = q.mine === "1" || q.mine === "true";
  const all = q.all === "1" || q.all === "true";
  return {
    status: q.status?.length ? q.status : all ? [...SANDBOX_STATUSES] : undefined,
    ownerId: mine || q.owner === "me" ? me : q.owner || undefined,
    profileId: q.profile || undefined,
    hostId: q.host || undefined,
    q: q.q || undefined,
  };
}
