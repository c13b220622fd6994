"use server";
// Admin: change a person's role (audited; the last admin cannot be demoted).
import { z } from "zod";

import { defineAction } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";
import { setRole } from "@/lib/manager/people";

export const setRoleAction = defineAction(
  {
    name: "setRole",
    requires: "people.manage",
    schema: z.strictObject({ userId: z.string().min(1).max(100), role: z.enum(["admin", "member"]) }),
  },
  async (input, actor) => setRole(manager(), actor, input.userId, input.role),
);
