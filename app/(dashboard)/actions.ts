"use server";
// Server actions of the overview, profiles and sandbox pages: one per intent, each through
// defineAction (authenticate, check the role, validate, call the manager, stable error shape).
import { z } from "zod";

import { createSandboxBody, extendSandboxBody, sandboxIdSchema } from "@/lib/api/schemas";
import { defineAction } from "@/lib/auth/guards";
import { parseDuration } from "@/lib/duration";
import { manager } from "@/lib/manager/instance";

export const createSandboxAction = defineAction({ name: "createSandbox", schema: createSandboxBody }, async (input, actor) =>
  manager().createSandbox(input.profile, actor, input.input),
);

export const destroySandboxAction = defineAction(
  { name: "destroySandbox", schema: z.strictObject({ id: sandboxIdSchema }) },
  async (input, actor) => manager().destroySandbox(input.id, actor),
);

export const destroySandboxesAction = defineAction(
  { name: "destroySandboxes", requires: "sandbox.destroy_any", schema: z.strictObject({ ids: z.array(sandboxIdSchema).min(1).max(200) }) },
  async (input, actor) => {
    const results = await Promise.allSettled(input.ids.map((id) => manager().destroySandbox(id, actor)));
    return results.map((r, i) =>
      r.status === "fulfilled"
        ? { id: input.ids[i]!, ok: true as const, status: r.value.status }
        : { id: input.ids[i]!, ok: false as const, message: (r.reason as Error).message },
    );
  },
);

export const extendSandboxAction = defineAction(
  { name: "extendSandbox", schema: extendSandboxBody.extend({ id: sandboxIdSchema }) },
  async (input, actor) => manager().extendSandbox(input.id, actor, parseDuration(input.by)),
);
