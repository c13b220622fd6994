"use server";
// Images page actions (admins): start a build, cancel it, point a channel, revoke a version.
import { z } from "zod";

import { defineAction } from "@/lib/auth/guards";
import { cancelImageBuild, revokeVersion, setChannel, startImageBuild } from "@/lib/manager/images";
import { manager } from "@/lib/manager/instance";

const image = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/);
const version = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,62}$/);

export const startBuildAction = defineAction(
  {
    name: "startImageBuild",
    requires: "host.manage",
    schema: z.strictObject({
      image,
      hostId: z
        .string()
        .regex(/^[a-z0-9][a-z0-9-]{0,62}$/)
        .optional(),
    }),
  },
  async (input, actor) => startImageBuild(manager(), actor, input),
);

export const cancelBuildAction = defineAction(
  { name: "cancelImageBuild", requires: "host.manage", schema: z.strictObject({ buildId: z.string().regex(/^bld_[a-z0-9]{1,40}$/) }) },
  async (input, actor) => cancelImageBuild(manager(), actor, input.buildId),
);

export const setChannelAction = defineAction(
  {
    name: "setImageChannel",
    requires: "host.manage",
    schema: z.strictObject({ image, channel: z.string().regex(/^[a-z0-9][a-z0-9-]{0,30}$/), version }),
  },
  async (input, actor) => setChannel(manager(), actor, input.image, input.channel, input.version),
);

export const revokeVersionAction = defineAction(
  {
    name: "revokeImageVersion",
    requires: "host.manage",
    schema: z.strictObject({ image, version, reason: z.string().max(200).optional() }),
  },
  async (input, actor) => ({ drained: await revokeVersion(manager(), actor, input.image, input.version, input.reason) }),
);
