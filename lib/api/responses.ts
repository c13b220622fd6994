// Response shapes of the REST API, in zod: they generate the OpenAPI document's components
// (lib/api/openapi.ts) and the contract tests validate real responses against them. Each schema is
// tied to the TypeScript view the manager returns by a compile-time equality check at the bottom, so
// a field added to a view without being documented here fails `tsc`. Objects are strict: a response
// carrying an undocumented field fails the contract test too.
import { z } from "zod";

import type { Requirement, HandleSummary } from "../extensions/base";
import type { ProfileInputSpec } from "../extensions/profile-inputs";
import type { ConfigIssue } from "../extensions/yaml-config";
import type { ErrorBody } from "../http-errors";
import type { ConnectionView } from "../manager/connection";
import type { AddedHostView, EditedHostView, HostDrainView } from "../manager/host-lifecycle";
import type { ImageBuildView, ImageView } from "../manager/images";
import type { ProfileCheckView } from "../manager/profile-check";
import type { SandboxServicesView } from "../manager/services";
import { SANDBOX_STATUSES } from "../manager/states";
import type {
  HostView,
  PersonView,
  ProfileView,
  SandboxDetailView,
  SandboxEventView,
  SandboxListView,
  SandboxView,
} from "../manager/views";
import type { GatewayInfo } from "../gateway/instance";
import type { SshKeyView } from "../manager/ssh-keys";
import type { SshSessionView } from "../manager/ssh-sessions";
import type { WhoAmIView } from "../manager/whoami";
import { TOKEN_SCOPES } from "../auth/token-scopes";
import type { TokenView } from "../auth/tokens";

/** Named schemas: each becomes `#/components/schemas/<id>` in the OpenAPI document. */
export const apiComponents = z.registry<{ id: string; description?: string }>();

function component<T extends z.ZodType>(id: string, description: string, schema: T): T {
  apiComponents.add(schema, { id, description });
  return schema;
}

const timestamp = z.iso.datetime({ offset: true });

export const errorSchema = component(
  "Error",
  "Every error: a stable code, a message a person can act on, and for validation failures the bad fields",
  z.strictObject({
    code: z.string().describe("e.g. VALIDATION_FAILED, UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, QUOTA_EXCEEDED"),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
    fieldErrors: z.record(z.string(), z.array(z.string())).optional().describe("Field path → problems (400 only)"),
  }),
);

export const sandboxStatusSchema = component("SandboxStatus", "Where a sandbox is in its lifecycle", z.enum(SANDBOX_STATUSES));

export const personSchema = component("Person", "A user", z.strictObject({ id: z.string(), name: z.string(), email: z.string() }));

export const handleSummarySchema = component(
  "HandleSummary",
  "The destroy handle in human terms: where the sandbox lives and exactly what a destroy removes",
  z.strictObject({
    target: z.string().describe('"host:port" or "this server"'),
    address: z.string().optional(),
    port: z.number().int().optional(),
    user: z.string().optional(),
    workspacePath: z.string().optional(),
    hostKey: z.string().optional().describe("Pinned host key fingerprint, SHA256:…"),
    sshCommand: z.string().optional(),
    teardown: z.array(z.string()).describe("What a destroy removes, one line each"),
  }),
);

export const sandboxSchema = component(
  "Sandbox",
  "A sandbox",
  z.strictObject({
    id: z.string(),
    owner: personSchema,
    profileId: z.string(),
    profileTitle: z.string(),
    extensionId: z.string(),
    host: z.strictObject({ id: z.string(), title: z.string(), address: z.string(), port: z.number().int() }).nullable(),
    status: sandboxStatusSchema,
    statusReason: z.string().nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
    readyAt: timestamp.nullable(),
    destroyedAt: timestamp.nullable(),
    expiresAt: timestamp.nullable(),
    maxExpiresAt: timestamp.nullable(),
    handle: handleSummarySchema.nullable(),
  }),
);

export const sandboxDetailSchema = component(
  "SandboxDetail",
  "A sandbox with its inputs, state timeline and queue position (?detail=1)",
  sandboxSchema.extend({
    input: z.record(z.string(), z.unknown()),
    timeline: z.array(
      z.strictObject({ id: z.number().int(), at: timestamp, status: z.string(), message: z.string(), actor: z.string().nullable() }),
    ),
    queue: z.strictObject({ position: z.number().int(), reason: z.string() }).nullable(),
    stuck: z
      .strictObject({ reason: z.string(), since: timestamp.nullable() })
      .nullable()
      .describe("Why its in-flight work is not moving (its worker stopped responding, no live worker) and what to do; null while it moves"),
    canDestroy: z.boolean().optional().describe("Same as permissions.destroy (kept for older clients)"),
    permissions: z
      .strictObject({ destroy: z.boolean(), extend: z.boolean(), enter: z.boolean() })
      .optional()
      .describe("What the caller may do to this sandbox (the policy's answer)"),
    extendableMs: z.number().int().describe("How much longer the expiry can be moved, in ms"),
  }),
);

export const sandboxListSchema = component(
  "SandboxList",
  "One page of sandboxes",
  z.strictObject({
    rows: z.array(sandboxSchema),
    total: z.number().int(),
    page: z.number().int(),
    pageSize: z.number().int(),
    pages: z.number().int(),
    counts: z.partialRecord(sandboxStatusSchema, z.number().int()).describe("Sandboxes per status under the same filter, all statuses"),
  }),
);

/** A sandbox's event: on its own stream, and (with its sandbox's id) on the team stream. */
const sandboxEventFields = {
  id: z.number().int().describe("Increasing; the SSE event id (Last-Event-ID resumes after it)"),
  type: z.enum(["log", "state"]),
  level: z.string(),
  message: z.string(),
  at: timestamp,
  status: z.string().optional().describe("The new status (state events)"),
};

export const sandboxEventSchema = component(
  "SandboxEvent",
  "A log line or a state change of a sandbox",
  z.strictObject(sandboxEventFields),
);

export const sandboxEventsSchema = component(
  "SandboxEvents",
  "Events after ?after=<id>, with the sandbox as it is now",
  z.strictObject({ events: z.array(sandboxEventSchema), sandbox: sandboxSchema }),
);

export const teamSandboxEventSchema = component(
  "TeamSandboxEvent",
  "A log line or state change of any sandbox, on the team event stream",
  z.strictObject({ sandboxId: z.string(), ...sandboxEventFields }),
);

export const teamNoticeSchema = component(
  "TeamNotice",
  "A notice on a topic (host.changed, …), published by a feature of the server (docs/live-updates.md)",
  z.strictObject({ id: z.number().int(), type: z.literal("team"), topic: z.string(), data: z.unknown(), at: timestamp }),
);

export const teamEventsSchema = component(
  "TeamEvents",
  "Team events after ?after=<id>, oldest first, and the id to pass as ?after next time",
  z.strictObject({
    events: z.array(z.union([teamSandboxEventSchema, teamNoticeSchema])),
    lastEventId: z.number().int(),
  }),
);

const configIssueSchema = component(
  "ConfigIssue",
  "A problem in a configuration file",
  z.strictObject({ file: z.string(), field: z.string(), line: z.number().int().optional(), message: z.string() }),
);

const profileInputSchema = component(
  "ProfileInput",
  "A value a person may set when creating a sandbox from the profile",
  z.strictObject({
    name: z.string(),
    title: z.string(),
    description: z.string(),
    param: z.string(),
    default: z.string().optional(),
    required: z.boolean(),
    pattern: z.string().optional(),
    maxLength: z.number().int(),
    placeholder: z.string().optional(),
  }),
);

export const profileSchema = component(
  "Profile",
  "A profile (usable or not; an invalid one carries its errors)",
  z.strictObject({
    id: z.string(),
    title: z.string(),
    description: z.string(),
    extension: z.string(),
    target: z.string().nullable(),
    ttl: z.string(),
    maxTtl: z.string(),
    runbook: z.string().nullable(),
    tags: z.array(z.string()),
    inputs: z.array(profileInputSchema),
    source: z.string(),
    usable: z.boolean(),
    errors: z.array(configIssueSchema),
    pool: z
      .strictObject({
        size: z.number().int(),
        refillConcurrency: z.number().int(),
        maxAge: z.string(),
        ready: z.number().int().describe("Members ready to be claimed"),
        filling: z.number().int().describe("Members being made"),
      })
      .nullable()
      .describe("The profile's warm pool (null: none); a create with the profile's defaults claims a ready member"),
  }),
);

export const profileListSchema = component("ProfileList", "Every profile", z.array(profileSchema));

const requirementSchema = component(
  "Requirement",
  "One line of an extension's check",
  z.strictObject({ name: z.string(), met: z.boolean(), reason: z.string() }),
);

export const profileCheckSchema = component(
  "ProfileCheck",
  "The extension's check() of a profile against each host it could use",
  z.strictObject({
    profileId: z.string(),
    ok: z.boolean(),
    notConfigured: z
      .string()
      .nullable()
      .describe("Set when the profile needs a build host that none registered provides: not set up here (a warning), not a failure"),
    errors: z.array(configIssueSchema),
    targets: z.array(
      z.strictObject({
        host: z
          .strictObject({ id: z.string(), title: z.string(), address: z.string(), port: z.number().int(), health: z.string() })
          .nullable(),
        requirements: z.array(requirementSchema),
      }),
    ),
  }),
);

export const hostSchema = component(
  "Host",
  "A build host with its health and load",
  z.strictObject({
    id: z.string(),
    title: z.string(),
    address: z.string(),
    port: z.number().int(),
    user: z.string(),
    hostKey: z
      .string()
      .describe(
        "The pinned fingerprint, SHA256:…; for a host hosts.yaml trusts through a known_hosts file alone, the one the file verified at the last connection (empty before the first)",
      ),
    offeredHostKey: z.string().nullable(),
    workspaceRoot: z.string(),
    labels: z.array(z.string()),
    capacity: z.number().int(),
    sandboxes: z.number().int(),
    pool: z
      .strictObject({ ready: z.number().int(), total: z.number().int() })
      .nullable()
      .describe("Warm-pool members on the host (counted in sandboxes): ready ones and all"),
    tunnelPort: z.number().int().nullable(),
    health: z.string().describe("unknown | healthy | unreachable | key_changed | disabled | unconfirmed"),
    healthDetail: z.string().nullable(),
    freeBytes: z.number().nullable(),
    checkedAt: timestamp.nullable(),
    source: z.string().describe('"config" (hosts.yaml, wins on conflict) or "admin" (added from the dashboard)'),
    cordoned: z.boolean().describe("No new sandboxes, whatever the health"),
    cordonReason: z.string().nullable(),
    cordonedAt: timestamp.nullable(),
    cordonedBy: z.string().nullable(),
    drainedAt: timestamp.nullable(),
    editingSince: timestamp
      .nullable()
      .describe("An admin's change of where it is reached, or its removal, is being checked since then: no new sandboxes meanwhile"),
    loadAverage: z.number().nullable().describe("1-minute load average at the last check"),
    cpuCount: z.number().int().nullable(),
    freeMemoryBytes: z.number().nullable(),
    markerPath: z.string().describe("Where the VM's image marker is"),
    image: z.strictObject({ name: z.string(), version: z.string(), builtAt: timestamp.nullable() }).nullable(),
    imageDetail: z.string().nullable().describe("Why the marker could not be read"),
    knownHostsFile: z
      .string()
      .nullable()
      .describe("The known_hosts file hosts.yaml trusts this host through alone (no pin): a changed key is fixed there; null when pinned"),
  }),
);

export const hostDrainSchema = component(
  "HostDrain",
  "A host's cordon state and what still runs there (people's sandboxes; warm-pool members are counted apart)",
  z.strictObject({
    hostId: z.string(),
    cordoned: z.boolean(),
    cordonReason: z.string().nullable(),
    drainedAt: timestamp.nullable(),
    poolMembersDestroyed: z.number().int().describe("Idle warm-pool members this drain retired (their teardown is queued)"),
    poolMembersLeft: z
      .number()
      .int()
      .describe("Warm-pool members still on the host (being torn down after a drain, or pooled on a cordoned host)"),
    remaining: z.array(
      z.strictObject({ id: z.string(), owner: z.string(), profileId: z.string(), status: z.string(), expiresAt: timestamp.nullable() }),
    ),
    summary: z.string(),
  }),
);

export const addedHostSchema = component(
  "AddedHost",
  "A host just added: the key it offered, waiting for an admin to confirm it",
  z.strictObject({
    hostId: z.string(),
    offeredHostKey: z.string().describe("SHA256:… as offered by the host; compare it with the VM's own"),
    verifyCommand: z.string().describe("Run this on the VM to see its fingerprints"),
  }),
);

export const editedHostSchema = component(
  "EditedHost",
  "A host after an edit: what changed, and the key to confirm when its address or port did",
  z.strictObject({
    hostId: z.string(),
    changed: z.array(z.string()).describe("The settings that changed (empty when the edit matched what was there)"),
    keyConfirmation: z
      .strictObject({
        offeredHostKey: z.string().describe("SHA256:… as offered at the new address; compare it with the VM's own"),
        verifyCommand: z.string().describe("Run this on the VM to see its fingerprints"),
      })
      .nullable()
      .describe("Set when the address or port changed: the host is unconfirmed (no sandboxes) until the key is confirmed"),
  }),
);

export const removedHostSchema = component(
  "RemovedHost",
  "A host removed from the registry",
  z.strictObject({ hostId: z.string(), removed: z.literal(true) }),
);

export const imageBuildSchema = component(
  "ImageBuild",
  "One packer build run by sand-boxer",
  z.strictObject({
    id: z.string(),
    image: z.string(),
    version: z.string().describe("Assigned by sand-boxer and passed to Packer as image_version"),
    hostId: z.string().nullable().describe("The host rebuilt in place, if any"),
    state: z.string().describe("queued | running | succeeded | failed | cancelled"),
    error: z.string().nullable(),
    templateHash: z.string().nullable(),
    artifacts: z.array(z.string()),
    offeredHostKey: z.string().nullable().describe("After a rebuild in place: the new host key, for an admin to confirm"),
    actor: z.string().nullable(),
    createdAt: timestamp,
    startedAt: timestamp.nullable(),
    finishedAt: timestamp.nullable(),
  }),
);

export const imageListSchema = component(
  "ImageList",
  "Every image: manifest, channels and built versions with the hosts running them",
  z.array(
    z.strictObject({
      name: z.string(),
      title: z.string(),
      description: z.string(),
      template: z.string(),
      variables: z.record(z.string(), z.string()),
      problem: z.string().nullable(),
      channels: z.array(z.strictObject({ channel: z.string(), version: z.string() })),
      versions: z.array(
        z.strictObject({
          version: z.string(),
          createdAt: timestamp,
          createdBy: z.string().nullable(),
          templateHash: z.string(),
          artifacts: z.array(z.string()),
          revokedAt: timestamp.nullable(),
          revokeReason: z.string().nullable(),
          channels: z.array(z.string()),
          hosts: z.array(z.string()),
        }),
      ),
    }),
  ),
);

export const buildLogSchema = component(
  "ImageBuildLog",
  "A build's log lines after ?after, and the build",
  z.strictObject({
    lines: z.array(z.strictObject({ id: z.number().int(), level: z.string(), message: z.string(), at: timestamp })),
    build: imageBuildSchema,
  }),
);

export const revokedSchema = component(
  "RevokedVersion",
  "A revoked image version and the hosts drained because they run it",
  z.strictObject({ image: z.string(), version: z.string(), drained: z.array(z.string()) }),
);

export const hostListSchema = component("HostList", "Every build host", z.array(hostSchema));

export const connectionSchema = component(
  "Connection",
  "How to reach a ready SSH sandbox with the host key the server verified (no private keys)",
  z.strictObject({
    sandboxId: z.string(),
    hostId: z.string().nullable(),
    host: z.string(),
    port: z.number().int(),
    user: z.string(),
    workspacePath: z.string(),
    hostKey: z.string().describe("Pinned fingerprint, SHA256:…"),
    knownHostsLine: z.string().describe("[host]:port <type> <base64>, for a temporary UserKnownHostsFile"),
  }),
);

export const serviceReportSchema = component(
  "ServiceReport",
  "One service of a sandbox that runs several (a compose project's service)",
  z.strictObject({
    name: z.string(),
    container: z.string().optional(),
    state: z.string().describe('In words: "running", "running (healthy)", "failed (exit code 3)", "created", "no container", …'),
    condition: z.enum(["up", "failed", "other"]),
    health: z.string().nullable().describe("healthy, unhealthy, starting; null without a health check"),
    ports: z.array(z.string()).describe('Published ports, e.g. "127.0.0.1:8080→80/tcp"'),
    logTail: z.array(z.string()).optional().describe("The last lines a failed service wrote"),
  }),
);

export const sandboxServicesSchema = component(
  "SandboxServices",
  "What the sandbox's extension reports about it right now, per service where it runs several",
  z.strictObject({
    sandboxId: z.string(),
    health: z.enum(["ready", "missing", "degraded", "unknown"]).nullable(),
    detail: z.string(),
    services: z.array(serviceReportSchema).nullable(),
    checkedAt: z.string(),
  }),
);

export const whoAmISchema = component(
  "WhoAmI",
  "The caller",
  z.strictObject({
    id: z.string(),
    email: z.string(),
    name: z.string(),
    role: z.enum(["admin", "member"]),
    via: z.enum(["session", "token"]),
    tokenName: z.string().nullable(),
    tokenScopes: z.array(z.enum(TOKEN_SCOPES)).nullable().describe("The API token's scopes, when `via` is token"),
    tokenExpiresAt: timestamp.nullable().describe("When the API token expires; null for a session or a legacy token that never expires"),
  }),
);

export const apiTokenSchema = component(
  "ApiToken",
  "One of the caller's API tokens (never the token itself)",
  z.strictObject({
    id: z.string(),
    name: z.string(),
    prefix: z.string().describe("The token's first characters, to tell tokens apart"),
    createdAt: timestamp,
    lastUsedAt: timestamp.nullable(),
    revokedAt: timestamp.nullable(),
    scopes: z
      .array(z.enum(TOKEN_SCOPES))
      .describe('"read" (GET only) or "full", and "admin" for the owner\'s admin powers while the owner is an admin'),
    expiresAt: timestamp.nullable().describe("Null: a legacy token, made before tokens expired; it never expires"),
  }),
);

export const apiTokenListSchema = component(
  "ApiTokenList",
  "The caller's API tokens, newest first",
  z.strictObject({ tokens: z.array(apiTokenSchema) }),
);

export const createdApiTokenSchema = component(
  "CreatedApiToken",
  "A new API token: `token` is shown this once and never again",
  z.strictObject({ token: z.string().describe("sbx_…"), view: apiTokenSchema }),
);

export const sshKeySchema = component(
  "SshKey",
  "One of the caller's SSH public keys for the gateway",
  z.strictObject({
    id: z.string(),
    type: z.string().describe("ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa"),
    fingerprint: z.string().describe("SHA256:…, as ssh-keygen -l prints it"),
    comment: z.string(),
    bits: z.number().int(),
    createdAt: timestamp,
    lastUsedAt: timestamp.nullable(),
  }),
);

export const sshKeyListSchema = component("SshKeyList", "The caller's SSH keys", z.strictObject({ keys: z.array(sshKeySchema) }));

export const gatewayInfoSchema = component(
  "SshGateway",
  "How to reach sandboxes through the server's SSH gateway: `ssh -p <port> <sandbox-id>@<host>`",
  z.strictObject({
    host: z.string(),
    port: z.number().int(),
    fingerprint: z.string().describe("The gateway's host key, SHA256:… — compare it with what ssh shows"),
    knownHostsLine: z.string().describe("[host]:port <type> <base64>, for a known_hosts file"),
  }),
);

export const sshSessionSchema = component(
  "SshSession",
  "One SSH connection through the gateway into a sandbox",
  z.strictObject({
    id: z.string(),
    sandboxId: z.string(),
    user: z.string().describe("The person's e-mail"),
    keyFingerprint: z.string(),
    sourceIp: z.string(),
    instanceId: z.string().describe("The server instance whose gateway holds it"),
    kind: z.string().describe("shell | exec | sftp | forward | none (the latest channel's kind)"),
    startedAt: timestamp,
    endedAt: timestamp.nullable(),
    bytesIn: z.number().int().describe("Bytes from the person to the sandbox"),
    bytesOut: z.number().int(),
    exitCode: z.number().int().nullable(),
    exitSignal: z.string().nullable(),
    endReason: z.string().nullable(),
    closeRequested: z.boolean(),
  }),
);

export const sshSessionListSchema = component(
  "SshSessionList",
  "A sandbox's SSH sessions, newest first (open ones and the latest ended ones)",
  z.strictObject({ sessions: z.array(sshSessionSchema) }),
);

export const openApiDocumentSchema = component("OpenApiDocument", "This document (OpenAPI 3.1)", z.looseObject({ openapi: z.string() }));

// ─── Drift checks: each schema's type must equal the view the manager returns ────────────────────

type Equal<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
export type ResponseDriftChecks = [
  Assert<Equal<z.infer<typeof errorSchema>, ErrorBody>>,
  Assert<Equal<z.infer<typeof personSchema>, PersonView>>,
  Assert<Equal<z.infer<typeof handleSummarySchema>, HandleSummary>>,
  Assert<Equal<z.infer<typeof sandboxSchema>, SandboxView>>,
  Assert<Equal<z.infer<typeof sandboxDetailSchema>, SandboxDetailView>>,
  Assert<Equal<z.infer<typeof sandboxListSchema>, SandboxListView>>,
  Assert<Equal<z.infer<typeof sandboxEventSchema>, SandboxEventView>>,
  Assert<Equal<z.infer<typeof profileSchema>, ProfileView>>,
  Assert<Equal<z.infer<typeof profileInputSchema>, ProfileInputSpec>>,
  Assert<Equal<z.infer<typeof configIssueSchema>, ConfigIssue>>,
  Assert<Equal<z.infer<typeof requirementSchema>, Requirement>>,
  Assert<Equal<z.infer<typeof profileCheckSchema>, ProfileCheckView>>,
  Assert<Equal<z.infer<typeof hostSchema>, HostView>>,
  Assert<Equal<z.infer<typeof hostDrainSchema>, HostDrainView>>,
  Assert<Equal<z.infer<typeof addedHostSchema>, AddedHostView>>,
  Assert<Equal<z.infer<typeof editedHostSchema>, EditedHostView>>,
  Assert<Equal<z.infer<typeof imageBuildSchema>, ImageBuildView>>,
  Assert<Equal<z.infer<typeof imageListSchema>, ImageView[]>>,
  Assert<Equal<z.infer<typeof connectionSchema>, ConnectionView>>,
  Assert<Equal<z.infer<typeof sandboxServicesSchema>, SandboxServicesView>>,
  Assert<Equal<z.infer<typeof whoAmISchema>, WhoAmIView>>,
  Assert<Equal<z.infer<typeof sshKeySchema>, SshKeyView>>,
  Assert<Equal<z.infer<typeof apiTokenSchema>, TokenView>>,
  Assert<Equal<z.infer<typeof gatewayInfoSchema>, GatewayInfo>>,
  Assert<Equal<z.infer<typeof sshSessionSchema>, SshSessionView>>,
];
