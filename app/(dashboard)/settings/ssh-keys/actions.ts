"use server";
// SSH key actions: register a public key for the SSH gateway, remove one. Validation and audit in lib/manager/ssh-keys.ts.
import { z } from "zod";

import { defineAction } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";
import { addSshKey, removeSshKey } from "@/lib/manager/ssh-keys";

export const addSshKeyAction = defineAction(
  { name: "addSshKey", schema: z.strictObject({ publicKey: z.string().max(8192), comment: z.string().max(200).optional() }) },
  async (input, actor) => addSshKey(manager(), actor, input),
);

export const removeSshKeyAction = defineAction(
  { name: "removeSshKey", schema: z.strictObject({ id: z.string().min(1).max(64) }) },
  async (input, actor) => removeSshKey(manager(), actor, input.id),
);
