// Request shapes of the REST API and the server actions, in zod. The same schemas validate input
// and generate the OpenAPI document (app/api/v1/openapi.json), so the two cannot drift apart.
import { z } from "zod";

import { TOKEN_SCOPES } from "../auth/token-scopes";
import { SANDBOX_STATUSES } from "../manager/states";
import { DURATION_PATTERN } from "../duration";
import { SANDBOX_ID_PATTERN } from "../sandbox-id";

export const sandboxIdSchema = z.string().regex(SANDBOX_ID_PATTERN, { error: "not a sandbox id" });

// Bounded, and each status once: `?status=ready,ready,…` is one filter, not a thousand-term query.
const statusList = z
  .string()
  .max(500, { error: "at most 500 characters (each status once is far less)" })
  .transform((s) => [
    ...new Set(
      s
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean),
    ),
  ])
  .pipe(z.array(z.enum(SANDBOX_STATUSES)));

/** A yes/no query parameter ("1"/"true" or "0"/"false"), read as a boolean. */
const flag = (description: string) =>
  z
    .enum(["1", "true", "0", "false"])
    .optional()
    .describe(description)
    .transform((v) => v === "1" || v === "true");

export const listSandboxesQuery = z.strictObject({
  status: statusList.optional().describe("Comma-separated statuses; default: every status but destroyed"),
  owner: z.string().max(100).optional().describe('A user id, or "me"'),
  mine: flag("Only the caller's sandboxes"),
  profile: z.string().max(100).optional(),
  host: z.string().max(100).optional(),
  q: z.string().max(100).optional().describe("Id prefix or profile text"),
  all: flag("Include destroyed sandboxes"),
  recent: flag("Also the sandboxes destroyed in the last 10 minutes (the dashboard shows them as a separate group)"),
  page: z.coerce.number().int().min(1).max(100_000).default(1),
  pageSize: z.coerce.number().int().min(1).max(200).default(25),
});

export const createSandboxBody = z.strictObject({
  profile: z.string().min(1).max(100).describe('A profile id, e.g. "profile.vm-haskell-build"'),
  input: z.record(z.string(), z.string()).default({}).describe("Values for the inputs the profile allows"),
});

export const extendSandboxBody = z.strictObject({
  by: z.string().regex(DURATION_PATTERN, { error: "a duration such as 2h or 30m" }).describe("How much longer, e.g. 2h"),
});

export const eventsQuery = z.strictObject({
  after: z.coerce.number().int().min(0).default(0),
  format: z.enum(["json", "sse"]).optional(),
});

export const teamEventsQuery = z.strictObject({
  after: z.coerce.number().int().min(0).optional().describe("Only events after this id (SSE: replayed first; JSON: at most 500)"),
  format: z.enum(["json", "sse"]).optional(),
});

export const profileIdSchema = z.string().min(1).max(100).describe('A profile id, e.g. "profile.vm-haskell-build"');

export const sandboxPathParams = z.strictObject({ id: sandboxIdSchema.describe("The sandbox id") });

export const profilePathParams = z.strictObject({ id: profileIdSchema });

export const getSandboxQuery = z.object({
  detail: flag("1: add the inputs, the state timeline and the queue position"),
});

export const addSshKeyBody = z.strictObject({
  publicKey: z.string().max(8192).describe("One OpenSSH public-key line: `<type> <base64> [comment]` (ed25519, ecdsa, rsa ≥ 3072 bits)"),
  comment: z.string().max(200).optional().describe("A label; default: the key line's comment"),
});

/** A new API token: the dashboard's form (a server action) and POST /api/v1/me/tokens share it. */
export const createTokenBody = z.strictObject({
  name: z
    .string()
    .trim()
    .regex(/^[\w .:@/-]{1,64}$/, { error: "1-64 letters, digits, spaces and . _ : @ / -" })
    .describe("A name to tell the token apart, unique among yours"),
  scopes: z
    .array(z.enum(TOKEN_SCOPES))
    .min(1)
    .max(3)
    .optional()
    .describe('Default ["full"]. "read" (GET only) or "full"; add "admin" (admins only) for admin powers'),
  expiresIn: z
    .string()
    .regex(DURATION_PATTERN, { error: "a duration such as 30d or 12h" })
    .optional()
    .describe("How long the token lasts, e.g. 30d; default SANDBOXER_TOKEN_TTL_DEFAULT, at most SANDBOXER_TOKEN_TTL_MAX"),
});

export const tokenPathParams = z.strictObject({ id: z.string().min(1).max(64).describe("The token's id") });

export const sshKeyPathParams = z.strictObject({ id: z.string().min(1).max(64).describe("The key's id") });

export const sshSessionPathParams = z.strictObject({
  id: z
    .string()
    .regex(/^ses_[a-f0-9]{16}$/, { error: "not a session id" })
    .describe("The session's id"),
});

// ─── Build hosts (admins) ───────────────────────────────────────────────────────────────────────

const hostIdSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { error: "lowercase letters, digits and dashes" });

export const hostPathParams = z.strictObject({ id: hostIdSchema.describe("The host id") });

const fingerprintSchema = z.string().max(100).describe('"SHA256:…", as ssh-keygen -lf <key>.pub -E sha256 prints it on the VM');

export const addHostBody = z.strictObject({
  id: hostIdSchema,
  title: z.string().min(1).max(80).optional(),
  address: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9.:-]*$/, { error: "a host name or IP address" })
    .max(255)
    .optional()
    .describe("The VM's address; omit when it is reached through a reverse tunnel (tunnelPort)"),
  port: z.number().int().min(1).max(65535).optional(),
  tunnelPort: z.number().int().min(1).max(65535).optional().describe("The manager connects to 127.0.0.1:<tunnelPort>"),
  user: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/, { error: "a user name" }),
  labels: z
    .array(z.string().regex(/^[a-z0-9][a-z0-9._-]{0,40}$/, { error: "labels are lowercase words" }))
    .max(20)
    .optional(),
  capacity: z.number().int().min(1).max(10_000).optional(),
  workspaceRoot: z
    .string()
    .regex(/^\/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$/, { error: "an absolute directory other than /" })
    .max(200)
    .optional(),
  markerPath: z
    .string()
    .regex(/^\/[A-Za-z0-9._/-]+$/, { error: "an absolute file path" })
    .max(200)
    .optional()
    .describe("Where the VM's image marker is (default /etc/sandboxer-image.json)"),
});

/**
 * An edit of a dashboard-added host: the add-host fields (the same rules), each optional, at least
 * one given. `tunnelPort: null` drops the tunnel (give the address and port it is reached at instead).
 */
export const editHostBody = addHostBody
  .omit({ id: true })
  .partial()
  .extend({
    tunnelPort: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .nullable()
      .optional()
      .describe("The manager connects to 127.0.0.1:<tunnelPort>; null: no tunnel (give address and port)"),
  })
  .refine((b) => Object.values(b).some((v) => v !== undefined), { error: "give at least one field to change" });

export const confirmHostKeyBody = z.strictObject({ fingerprint: fingerprintSchema });

export const cordonHostBody = z.strictObject({
  reason: z.string().max(200).optional().describe("Shown on the host and in the reason of creates that wait"),
});

// ─── Images and builds (admins start, cancel, set channels and revoke) ──────────────────────────

export const imagePathParams = z.strictObject({
  id: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, { error: "an image name" })
    .describe("The image name (images/<name>.yaml)"),
});

export const buildPathParams = z.strictObject({
  id: z
    .string()
    .regex(/^bld_[a-z0-9]{1,40}$/, { error: "a build id" })
    .describe("The build id"),
});

export const startBuildBody = z.strictObject({
  hostId: hostIdSchema
    .optional()
    .describe("Rebuild this registered host in place (Packer's null builder, through sand-boxer's verified tunnel)"),
});

export const setChannelBody = z.strictObject({
  channel: z.string().regex(/^[a-z0-9][a-z0-9-]{0,30}$/, { error: "a channel name, e.g. stable" }),
  version: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,62}$/, { error: "a version" }),
});

export const revokeVersionBody = z.strictObject({
  version: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,62}$/, { error: "a version" }),
  reason: z.string().max(200).optional(),
});

export const buildLogQuery = z.strictObject({
  after: z.coerce.number().int().min(0).default(0).describe("Lines after this id"),
  format: z
    .enum(["json"])
    .optional()
    .describe("Always JSON; the live log is on the team event stream (`build.log` notices, GET /api/v1/events)"),
});
