"use server";
// API token actions: create (the token is returned once, never again) and revoke. Server actions take
// the session cookie only (lib/auth/guards.ts): an API token cannot mint tokens through this page.
import { z } from "zod";

import { createTokenBody } from "@/lib/api/schemas";
import { defineAction } from "@/lib/auth/guards";
import { manager } from "@/lib/manager/instance";
import { createApiToken, revokeApiToken } from "@/lib/manager/people";

export const createTokenAction = defineAction({ name: "createToken", schema: createTokenBody }, async (input, actor) =>
  createApiToken(manager(), actor, input),
);

export const revokeTokenAction = defineAction(
  { name: "revokeToken", schema: z.strictObject({ id: z.string().min(1).max(64) }) },
  async (input, actor) => revokeApiToken(manager(), actor, input.id),
);
