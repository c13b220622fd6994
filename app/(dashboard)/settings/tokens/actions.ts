"use server";
// API token actions: create (the token is returned once, never again) and revoke.
import { z } from "zod";

import { defineAction } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";
import { createApiToken, revokeApiToken } from "@/lib/manager/people";

export const createTokenAction = defineAction(
  { name: "createToken", schema: z.strictObject({ name: z.string().trim().min(1).max(64) }) },
  async (input, actor) => createApiToken(manager(), actor, input.name),
);

export const revokeTokenAction = defineAction(
  { name: "revokeToken", schema: z.strictObject({ id: z.string().min(1).max(64) }) },
  async (input, actor) => revokeApiToken(manager(), actor, input.id),
);
