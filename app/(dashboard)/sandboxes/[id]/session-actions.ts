"use server";
// Ending an SSH session from the sandbox page (admins; on whichever instance holds it). Audited in lib/manager/ssh-sessions.ts.
import { z } from "zod";

import { defineAction } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";
import { endSshSessionAsAdmin } from "@/lib/manager/ssh-sessions";

export const endSshSessionAction = defineAction(
  { name: "endSshSession", schema: z.strictObject({ id: z.string().regex(/^ses_[a-f0-9]{16}$/) }) },
  async (input, actor) => endSshSessionAsAdmin(manager(), actor, input.id),
);
