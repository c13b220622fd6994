"use server";
// Hosts page actions (admins): check a host now, pin a changed host key, adopt or clean up an orphan.
import { z } from "zod";

import { defineAction } from "@/lib/auth/guards";
import { adoptOrphan, checkHost, cleanUpOrphan, pinHostKey } from "@/lib/manager/host-ops";
import { manager } from "@/lib/manager/instance";

const hostId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/);

export const checkHostAction = defineAction(
  { name: "checkHost", requires: "host.manage", schema: z.strictObject({ hostId }) },
  async (input, actor) => {
    await checkHost(manager(), actor, input.hostId);
    return { queued: true };
  },
);

export const pinHostKeyAction = defineAction(
  { name: "pinHostKey", requires: "host.manage", schema: z.strictObject({ hostId, fingerprint: z.string().max(100) }) },
  async (input, actor) => pinHostKey(manager(), actor, input.hostId, input.fingerprint),
);

export const adoptOrphanAction = defineAction(
  { name: "adoptOrphan", requires: "host.manage", schema: z.strictObject({ orphanId: z.string().min(1).max(200) }) },
  async (input, actor) => ({
    sandboxId: await adoptOrphan(manager(), actor, input.orphanId),
  }),
);

export const cleanUpOrphanAction = defineAction(
  { name: "cleanUpOrphan", requires: "host.manage", schema: z.strictObject({ orphanId: z.string().min(1).max(200) }) },
  async (input, actor) => cleanUpOrphan(manager(), actor, input.orphanId),
);
