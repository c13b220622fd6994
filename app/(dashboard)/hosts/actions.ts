"use server";
// Hosts page actions (admins): check a host now, pin a changed host key, adopt or clean up an orphan,
// add a host (and confirm its key), edit, cordon, uncordon, drain and remove hosts.
import { z } from "zod";

import { defineAction } from "@/lib/auth/guards";
import { addHostBody, editHostBody } from "@/lib/api/schemas";
import { addHost, confirmHostKey, cordonHost, drainHost, editAdminHost, removeHost, uncordonHost } from "@/lib/manager/host-lifecycle";
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

// ─── Host lifecycle: add (with key confirmation), cordon, uncordon, drain, remove ───────────────

export const addHostAction = defineAction({ name: "addHost", requires: "host.manage", schema: addHostBody }, async (input, actor) =>
  addHost(manager(), actor, input),
);

export const editHostAction = defineAction(
  { name: "editHost", requires: "host.manage", schema: z.strictObject({ hostId, edit: editHostBody }) },
  async (input, actor) => editAdminHost(manager(), actor, input.hostId, input.edit),
);

export const confirmHostKeyAction = defineAction(
  { name: "confirmHostKey", requires: "host.manage", schema: z.strictObject({ hostId, fingerprint: z.string().max(100) }) },
  async (input, actor) => confirmHostKey(manager(), actor, input.hostId, input.fingerprint),
);

export const cordonHostAction = defineAction(
  { name: "cordonHost", requires: "host.manage", schema: z.strictObject({ hostId, reason: z.string().max(200).optional() }) },
  async (input, actor) => cordonHost(manager(), actor, input.hostId, input.reason),
);

export const uncordonHostAction = defineAction(
  { name: "uncordonHost", requires: "host.manage", schema: z.strictObject({ hostId }) },
  async (input, actor) => uncordonHost(manager(), actor, input.hostId),
);

export const drainHostAction = defineAction(
  { name: "drainHost", requires: "host.manage", schema: z.strictObject({ hostId, reason: z.string().max(200).optional() }) },
  async (input, actor) => drainHost(manager(), actor, input.hostId, input.reason),
);

export const removeHostAction = defineAction(
  { name: "removeHost", requires: "host.manage", schema: z.strictObject({ hostId }) },
  async (input, actor) => removeHost(manager(), actor, input.hostId),
);
