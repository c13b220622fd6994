// The OpenAPI 3.1 document of /api/v1, generated from the same zod schemas that validate requests
// (lib/api/schemas.ts) and describe responses (lib/api/responses.ts). API_ROUTES is the one registry
// of routes: each route handler is `defineRoute(API_ROUTES.x, …)`, which validates params, query and
// body with exactly these schemas; the contract test checks that the registry and the route handlers
// under app/api/v1 agree in both directions, and that real responses match the documented schemas.
import { z } from "zod";

import type { AdminAction, MemberAction } from "../auth/policy";

import {
  apiComponents,
  connectionSchema,
  errorSchema,
  addedHostSchema,
  editedHostSchema,
  buildLogSchema,
  imageBuildSchema,
  imageListSchema,
  revokedSchema,
  hostDrainSchema,
  hostListSchema,
  hostSchema,
  removedHostSchema,
  openApiDocumentSchema,
  profileCheckSchema,
  profileListSchema,
  sandboxDetailSchema,
  sandboxEventsSchema,
  sandboxListSchema,
  sandboxSchema,
  sandboxServicesSchema,
  gatewayInfoSchema,
  sshKeyListSchema,
  sshKeySchema,
  sshSessionListSchema,
  sshSessionSchema,
  teamEventsSchema,
  whoAmISchema,
  apiTokenListSchema,
  apiTokenSchema,
  createdApiTokenSchema,
} from "./responses";
import {
  createSandboxBody,
  eventsQuery,
  extendSandboxBody,
  getSandboxQuery,
  listSandboxesQuery,
  addSshKeyBody,
  profilePathParams,
  sandboxPathParams,
  sshKeyPathParams,
  sshSessionPathParams,
  addHostBody,
  confirmHostKeyBody,
  editHostBody,
  cordonHostBody,
  hostPathParams,
  teamEventsQuery,
  buildLogQuery,
  buildPathParams,
  imagePathParams,
  revokeVersionBody,
  setChannelBody,
  startBuildBody,
  createTokenBody,
  tokenPathParams,
} from "./schemas";

type HttpMethod = "get" | "post" | "patch" | "delete";

export interface ApiResponseSpec {
  description: string;
  /** A registered component (or several: exactly one matches). */
  schema: z.ZodType | z.ZodType[];
  /** Other media types the route can answer with, e.g. text/event-stream. */
  alternatives?: Record<string, { description: string }>;
}

export interface ApiRouteSpec {
  method: HttpMethod;
  /** Relative to /api/v1, OpenAPI style: /sandboxes/{id}. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  /** No credentials needed. */
  public?: boolean;
  /** The policy action the caller must be allowed (lib/auth/policy.ts); any signed-in person when absent. */
  requires?: MemberAction | AdminAction;
  /** The route grants access (mints a token, registers an SSH key): a session or a full-scope token only. */
  grantsAccess?: boolean;
  params?: z.ZodObject;
  query?: z.ZodObject;
  headers?: { name: string; description: string }[];
  body?: z.ZodType;
  /** The success status and what it returns. */
  success: { status: number } & ApiResponseSpec;
  /** Error statuses this route can answer with (all with the Error body); 401 is added unless public. */
  errors: number[];
}

export const API_BASE_PATH = "/api/v1";

export const API_ROUTES = {
  getOpenApiDocument: {
    method: "get",
    path: "/openapi.json",
    operationId: "getOpenApiDocument",
    summary: "This document",
    public: true,
    success: { status: 200, description: "The OpenAPI 3.1 document", schema: openApiDocumentSchema },
    errors: [],
  },
  whoAmI: {
    method: "get",
    path: "/me",
    operationId: "whoAmI",
    summary: "Who the credentials belong to",
    success: { status: 200, description: "The caller", schema: whoAmISchema },
    errors: [],
  },
  listSshKeys: {
    method: "get",
    path: "/me/ssh-keys",
    operationId: "listSshKeys",
    summary: "Your SSH public keys for the gateway",
    success: { status: 200, description: "The keys", schema: sshKeyListSchema },
    errors: [],
  },
  addSshKey: {
    method: "post",
    path: "/me/ssh-keys",
    operationId: "addSshKey",
    summary: "Register an SSH public key (ed25519, ecdsa, rsa ≥ 3072 bits) for the gateway",
    description: "400 with `fieldErrors.publicKey` for another type, a short RSA key, a malformed line or a key already registered.",
    body: addSshKeyBody,
    grantsAccess: true,
    success: { status: 201, description: "The key", schema: sshKeySchema },
    errors: [400, 403],
  },
  removeSshKey: {
    method: "delete",
    path: "/me/ssh-keys/{id}",
    operationId: "removeSshKey",
    summary: "Remove one of your SSH keys (the gateway refuses it from then on)",
    params: sshKeyPathParams,
    success: { status: 200, description: "The removed key", schema: sshKeySchema },
    errors: [404],
  },
  listApiTokens: {
    method: "get",
    path: "/me/tokens",
    operationId: "listApiTokens",
    summary: "Your API tokens with their scopes and expiry (never the tokens themselves)",
    success: { status: 200, description: "The tokens", schema: apiTokenListSchema },
    errors: [],
  },
  createApiToken: {
    method: "post",
    path: "/me/tokens",
    operationId: "createApiToken",
    summary: "Create an API token (a session or a full-scope token only); the token is in the response once",
    description:
      "A token creating a token cannot give it scopes it does not have, and the new token expires no later than it does. " +
      "400 with `fieldErrors.scopes` for admin without the admin role, `fieldErrors.expiresIn` beyond SANDBOXER_TOKEN_TTL_MAX.",
    body: createTokenBody,
    grantsAccess: true,
    success: { status: 201, description: "The token and its listing", schema: createdApiTokenSchema },
    errors: [400, 403, 409],
  },
  revokeApiToken: {
    method: "delete",
    path: "/me/tokens/{id}",
    operationId: "revokeApiToken",
    summary: "Revoke one of your API tokens (refused from then on)",
    params: tokenPathParams,
    success: { status: 200, description: "The revoked token", schema: apiTokenSchema },
    errors: [403, 404],
  },
  getSshGateway: {
    method: "get",
    path: "/ssh-gateway",
    operationId: "getSshGateway",
    summary: "The SSH gateway's address and host key fingerprint",
    description: "404 when the gateway is off (SANDBOXER_SSH_GATEWAY=off).",
    success: { status: 200, description: "Address and fingerprint", schema: gatewayInfoSchema },
    errors: [404],
  },
  listSandboxSessions: {
    method: "get",
    path: "/sandboxes/{id}/sessions",
    operationId: "listSandboxSessions",
    summary: "The sandbox's SSH sessions through the gateway (open and recent)",
    params: sandboxPathParams,
    success: { status: 200, description: "Sessions, newest first", schema: sshSessionListSchema },
    errors: [404],
  },
  endSshSession: {
    method: "post",
    path: "/ssh-sessions/{id}/end",
    operationId: "endSshSession",
    summary: "End an SSH session (admins), on whichever instance holds it",
    description: "The holding gateway closes it within about a second, telling the person why. Audited.",
    params: sshSessionPathParams,
    success: { status: 200, description: "The session (closeRequested is true until it has ended)", schema: sshSessionSchema },
    errors: [403, 404],
  },
  listProfiles: {
    method: "get",
    path: "/profiles",
    operationId: "listProfiles",
    summary: "Every profile, usable or not (invalid ones carry their errors)",
    success: { status: 200, description: "The profiles", schema: profileListSchema },
    errors: [],
  },
  checkProfile: {
    method: "post",
    path: "/profiles/{id}/check",
    operationId: "checkProfile",
    summary: "Run the profile's extension check against each host it could use",
    description: "Connects to the hosts (with a time limit) but creates nothing. `ok` is false when any requirement is not met.",
    params: profilePathParams,
    success: { status: 200, description: "One line per requirement and host", schema: profileCheckSchema },
    errors: [404],
  },
  listHosts: {
    method: "get",
    path: "/hosts",
    operationId: "listHosts",
    summary: "The build hosts with health, free space and load",
    success: { status: 200, description: "The hosts", schema: hostListSchema },
    errors: [],
  },
  addHost: {
    method: "post",
    path: "/hosts",
    operationId: "addHost",
    summary: "Add a build host (admins): sand-boxer connects and returns the host key it offered, to be confirmed",
    description:
      "Nothing is trusted yet: the host stays `unconfirmed` (no sandboxes) until an admin confirms the fingerprint with " +
      "`/hosts/{id}/confirm-key`, having read it on the VM itself (`verifyCommand`).",
    requires: "host.manage",
    body: addHostBody,
    success: { status: 201, description: "Added, waiting for the key to be confirmed", schema: addedHostSchema },
    errors: [400, 403, 409, 502],
  },
  confirmHostKey: {
    method: "post",
    path: "/hosts/{id}/confirm-key",
    operationId: "confirmHostKey",
    summary: "Pin the host key an added (or rebuilt) host offered, after reading it on the VM (admins)",
    description: "409 KEY_MISMATCH when the fingerprint is not the one the host offered (nothing is pinned); then a health check runs.",
    requires: "host.manage",
    params: hostPathParams,
    body: confirmHostKeyBody,
    success: { status: 200, description: "Pinned; the host as it stands", schema: hostSchema },
    errors: [400, 403, 404, 409],
  },
  editHost: {
    method: "patch",
    path: "/hosts/{id}",
    operationId: "editHost",
    summary: "Edit a host added from the dashboard (admins): title, address, port, tunnel port, user, labels, capacity, root, marker",
    description:
      "Only the fields given change; the rules are the add's. A new address or port is never trusted on the old pin: the host " +
      "goes back to `unconfirmed` (no sandboxes) and `keyConfirmation` carries the key it now offers, to confirm with " +
      "`/hosts/{id}/confirm-key`. 409 HOST_FROM_CONFIG for hosts.yaml hosts (edit the file), 409 HOST_HAS_SANDBOXES for a " +
      "change of address, port, tunnel port, user or workspace root while sandboxes live there (drain it first); 400 " +
      "`fieldErrors.tunnelPort` for a port another host holds; 409 HOST_CHANGED when another edit of the host landed while " +
      "this one was checked, or another admin is changing where the host is reached now (nothing written: look again and " +
      "retry). While a change of where it is reached is checked, creates wait for the host. Audited.",
    requires: "host.manage",
    params: hostPathParams,
    body: editHostBody,
    success: { status: 200, description: "Edited", schema: editedHostSchema },
    errors: [400, 403, 404, 409, 502],
  },
  removeHost: {
    method: "delete",
    path: "/hosts/{id}",
    operationId: "removeHost",
    summary: "Remove a host added from the dashboard (admins); refused while sandboxes live there",
    description:
      "409 HOST_HAS_SANDBOXES while sandboxes live there (drain it), 409 HOST_FROM_CONFIG for hosts.yaml hosts, 409 HOST_CHANGED " +
      "while another admin's edit of where it is reached is checked.",
    requires: "host.manage",
    params: hostPathParams,
    success: { status: 200, description: "Removed", schema: removedHostSchema },
    errors: [403, 404, 409],
  },
  cordonHost: {
    method: "post",
    path: "/hosts/{id}/cordon",
    operationId: "cordonHost",
    summary: "Cordon a host (admins): no new sandboxes or pool members there; what runs keeps running",
    requires: "host.manage",
    params: hostPathParams,
    body: cordonHostBody,
    success: { status: 200, description: "Cordoned; what still runs there", schema: hostDrainSchema },
    errors: [400, 403, 404],
  },
  uncordonHost: {
    method: "post",
    path: "/hosts/{id}/uncordon",
    operationId: "uncordonHost",
    summary: "Uncordon a host (admins): creates waiting for it proceed",
    requires: "host.manage",
    params: hostPathParams,
    success: { status: 200, description: "Uncordoned", schema: hostDrainSchema },
    errors: [403, 404],
  },
  drainHost: {
    method: "post",
    path: "/hosts/{id}/drain",
    operationId: "drainHost",
    summary: "Drain a host (admins): cordon it, destroy idle pool members, and list what still runs and when it expires",
    requires: "host.manage",
    params: hostPathParams,
    body: cordonHostBody,
    success: { status: 200, description: "Drained; what still runs there", schema: hostDrainSchema },
    errors: [400, 403, 404],
  },
  hostDrainReport: {
    method: "get",
    path: "/hosts/{id}/drain",
    operationId: "hostDrainReport",
    summary: "A host's cordon state and what still runs there",
    params: hostPathParams,
    success: { status: 200, description: "The report", schema: hostDrainSchema },
    errors: [404],
  },
  listImages: {
    method: "get",
    path: "/images",
    operationId: "listImages",
    summary: "Images (images/<name>.yaml), their channels and built versions with the hosts running each",
    success: { status: 200, description: "The images", schema: imageListSchema },
    errors: [],
  },
  startImageBuild: {
    method: "post",
    path: "/images/{id}/builds",
    operationId: "startImageBuild",
    summary: "Start a packer build of the image (admins), optionally rebuilding a registered host in place",
    description: "Returns at once with the build (state `queued`) and the version sand-boxer assigned; follow `/builds/{id}/log`.",
    requires: "host.manage",
    params: imagePathParams,
    body: startBuildBody,
    success: { status: 202, description: "Queued", schema: imageBuildSchema },
    errors: [400, 403, 404, 409],
  },
  setImageChannel: {
    method: "post",
    path: "/images/{id}/channels",
    operationId: "setImageChannel",
    summary: "Point a channel (stable, canary, …) of the image at a built version (admins)",
    requires: "host.manage",
    params: imagePathParams,
    body: setChannelBody,
    success: { status: 200, description: "The images after the change", schema: imageListSchema },
    errors: [400, 403, 404],
  },
  revokeImageVersion: {
    method: "post",
    path: "/images/{id}/revoke",
    operationId: "revokeImageVersion",
    summary: "Revoke a version (admins): no profile gets it; every host running it is drained",
    requires: "host.manage",
    params: imagePathParams,
    body: revokeVersionBody,
    success: { status: 200, description: "Revoked; the hosts drained", schema: revokedSchema },
    errors: [400, 403, 404],
  },
  getImageBuild: {
    method: "get",
    path: "/builds/{id}",
    operationId: "getImageBuild",
    summary: "One image build",
    params: buildPathParams,
    success: { status: 200, description: "The build", schema: imageBuildSchema },
    errors: [404],
  },
  imageBuildLog: {
    method: "get",
    path: "/builds/{id}/log",
    operationId: "imageBuildLog",
    summary: "A build's log: the lines after ?after (at most 500) and the build",
    description:
      "For scripts and the CLI (`sandboxer image log`), which poll it until the build has ended. Live, the lines ride on the " +
      "team event stream (GET /events): `team` notices on the topic `build.log` ({ buildId, lines }) and `build.changed` " +
      "({ buildId, state }); see docs/live-updates.md.",
    params: buildPathParams,
    query: buildLogQuery,
    success: { status: 200, description: "Lines after ?after and the build", schema: buildLogSchema },
    errors: [400, 404],
  },
  cancelImageBuild: {
    method: "post",
    path: "/builds/{id}/cancel",
    operationId: "cancelImageBuild",
    summary: "Cancel a build (admins): a queued one never starts, a running one's Packer is killed",
    requires: "host.manage",
    params: buildPathParams,
    success: { status: 200, description: "The build (cancelled, or ending)", schema: imageBuildSchema },
    errors: [403, 404, 409],
  },
  listSandboxes: {
    method: "get",
    path: "/sandboxes",
    operationId: "listSandboxes",
    summary: "The team's sandboxes, filtered and paginated like the overview",
    query: listSandboxesQuery,
    success: { status: 200, description: "One page", schema: sandboxListSchema },
    errors: [400],
  },
  createSandbox: {
    method: "post",
    path: "/sandboxes",
    operationId: "createSandbox",
    summary: "Create a sandbox from a profile",
    description: "Returns at once with status `queued`; follow `/sandboxes/{id}/events` until it is ready or failed.",
    body: createSandboxBody,
    success: { status: 202, description: "Queued", schema: sandboxSchema },
    errors: [400, 404, 409],
  },
  getSandbox: {
    method: "get",
    path: "/sandboxes/{id}",
    operationId: "getSandbox",
    summary: "One sandbox",
    params: sandboxPathParams,
    query: getSandboxQuery,
    success: { status: 200, description: "The sandbox (with ?detail=1: its detail)", schema: [sandboxSchema, sandboxDetailSchema] },
    errors: [404],
  },
  destroySandbox: {
    method: "delete",
    path: "/sandboxes/{id}",
    operationId: "destroySandbox",
    summary: "Destroy a sandbox (owner or admin)",
    description: "Works from any state and is idempotent. Returns at once with status `destroying` (or `destroyed`).",
    params: sandboxPathParams,
    success: { status: 202, description: "Destroy queued", schema: sandboxSchema },
    errors: [403, 404, 409],
  },
  extendSandbox: {
    method: "post",
    path: "/sandboxes/{id}/extend",
    operationId: "extendSandbox",
    summary: "Move the expiry later (owner or admin), up to the profile's maximum",
    params: sandboxPathParams,
    body: extendSandboxBody,
    success: { status: 200, description: "The sandbox with its new expiry", schema: sandboxSchema },
    errors: [400, 403, 404, 409],
  },
  sandboxEvents: {
    method: "get",
    path: "/sandboxes/{id}/events",
    operationId: "sandboxEvents",
    summary: "The sandbox's log and state changes",
    description:
      "With `Accept: text/event-stream` (or ?format=sse): Server-Sent Events `log` and `state` with their ids, resumable " +
      "with `Last-Event-ID`, then one `end` event carrying the sandbox once it is in a final state. Otherwise JSON for polling.",
    params: sandboxPathParams,
    query: eventsQuery,
    headers: [{ name: "Last-Event-ID", description: "SSE: resume after this event id (takes precedence over ?after)" }],
    success: {
      status: 200,
      description: "Events after ?after and the sandbox",
      schema: sandboxEventsSchema,
      alternatives: { "text/event-stream": { description: "`log`/`state` events (data: a SandboxEvent), then `end` (data: a Sandbox)" } },
    },
    errors: [400, 404],
  },
  teamEvents: {
    method: "get",
    path: "/events",
    operationId: "teamEvents",
    summary: "The team event stream: every sandbox's log and state changes, sandbox snapshots and team notices",
    description:
      "With `Accept: text/event-stream` (or ?format=sse): Server-Sent Events — `log` and `state` (data: a TeamSandboxEvent, id: " +
      "its event id), `sandbox` after state changes (data: a Sandbox as it is now), `team` (data: a TeamNotice), `pool` " +
      "when warm-pool counts changed (data: { profiles: { [id]: { ready, filling } }, hosts: { [id]: { ready, total } } }), `ready` once live, " +
      "`reset` when a resume is too far behind to replay (refetch, then follow). Resumable with `Last-Event-ID` (or ?after); a " +
      "comment line every 15 s; at most SANDBOXER_MAX_STREAMS_PER_PERSON (16) open streams per person, shared with the sandbox event streams " +
      "streams (429 TOO_MANY_STREAMS). Otherwise JSON: the events after ?after " +
      "(at most 500), for scripts. See docs/live-updates.md.",
    query: teamEventsQuery,
    headers: [{ name: "Last-Event-ID", description: "SSE: resume after this event id (takes precedence over ?after)" }],
    success: {
      status: 200,
      description: "Events after ?after",
      schema: teamEventsSchema,
      alternatives: { "text/event-stream": { description: "`log`/`state`/`sandbox`/`team`/`pool`/`ready`/`reset` events" } },
    },
    errors: [400, 429],
  },
  sandboxConnection: {
    method: "get",
    path: "/sandboxes/{id}/connection",
    operationId: "sandboxConnection",
    summary: "How to reach a ready SSH sandbox: host, port, user, workspace and a known_hosts line for the pinned key",
    description:
      "409 NOT_CONNECTABLE when the sandbox is not ready or not on a build VM; 409 HOST_KEY_UNKNOWN when the server has no " +
      "verified full host key to hand out. Private keys never leave the server: bring your own identity.",
    params: sandboxPathParams,
    success: { status: 200, description: "Connection details", schema: connectionSchema },
    errors: [404, 409],
  },
  sandboxServices: {
    method: "get",
    path: "/sandboxes/{id}/services",
    operationId: "sandboxServices",
    summary: "The sandbox's health and services as its extension reports them now (state, health, published ports)",
    description:
      "Asks the extension over SSH (at most 20 s). `services` lists each service of sandboxes that run several (ext.compose-ssh), " +
      "with the last log lines of a failed one; it is null for other extensions, and `health` is null while there is nothing to ask.",
    params: sandboxPathParams,
    success: { status: 200, description: "The report", schema: sandboxServicesSchema },
    errors: [404],
  },
} satisfies Record<string, ApiRouteSpec>;

/**
 * Routes outside /api/v1, served through the same `defineRoute` (authentication, policy, errors) but
 * not part of the OpenAPI document: operators' endpoints with formats of their own.
 */
export const OPERATOR_ROUTES = {
  metrics: {
    method: "get",
    path: "/api/metrics",
    operationId: "metrics",
    summary: "Prometheus metrics (text exposition format)",
    description: "Bearer SANDBOXER_METRICS_TOKEN, or an admin's session or token.",
    requires: "metrics.read",
    success: { status: 200, description: "Prometheus text format", schema: z.string() },
    errors: [403],
  },
} satisfies Record<string, ApiRouteSpec>;

const STATUS_TEXT: Record<number, string> = {
  400: "The request is not valid (fieldErrors names each bad field)",
  401: "No valid session or API token (code TOKEN_EXPIRED: the token has expired)",
  403:
    "Not allowed for this caller (owner or admin only; TOKEN_SCOPE: the API token's scopes do not cover it), " +
    "or a session-cookie write without an allowed Origin and JSON",
  404: "Not found",
  409: "Conflicts with the current state (see code)",
  413: "The request body is over 1 MB (PAYLOAD_TOO_LARGE)",
  429: "Too many open at once for this caller (see code)",
  500: "Internal error (the server log has the details)",
  502: "A build VM could not be reached or answered unexpectedly (see code)",
};

const componentUri = (id: string) => `#/components/schemas/${id}`;

/**
 * Drops what zod emits for its own runtime checks but a reader does not need: the ±2^53 bounds of
 * every integer and the long regular expression behind `format: date-time`.
 */
function tidy<T>(node: T): T {
  if (Array.isArray(node)) return node.map(tidy) as T;
  if (node === null || typeof node !== "object") return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if ((k === "minimum" || k === "maximum") && Math.abs(v as number) === Number.MAX_SAFE_INTEGER) continue;
    if (k === "pattern" && (node as Record<string, unknown>).format === "date-time") continue;
    out[k] = tidy(v);
  }
  return out as T;
}

function ref(schema: z.ZodType): { $ref: string } {
  const id = apiComponents.get(schema)?.id;
  if (!id) throw new Error("an API response schema must be registered in apiComponents (lib/api/responses.ts)");
  return { $ref: componentUri(id) };
}

function inputSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
  return tidy(rest);
}

function parameters(route: ApiRouteSpec): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const [where, obj] of [
    ["path", route.params],
    ["query", route.query],
  ] as const) {
    for (const [name, field] of Object.entries(obj?.shape ?? {})) {
      const f = field as z.ZodType;
      const schema = inputSchema(f);
      const description = typeof schema.description === "string" ? schema.description : undefined;
      delete schema.description;
      out.push({
        name,
        in: where,
        required: where === "path" || !f.safeParse(undefined).success,
        ...(description ? { description } : {}),
        schema,
      });
    }
  }
  for (const h of route.headers ?? [])
    out.push({ name: h.name, in: "header", required: false, description: h.description, schema: { type: "string" } });
  return out;
}

function operation(route: ApiRouteSpec): Record<string, unknown> {
  const success = route.success;
  const schemas = Array.isArray(success.schema) ? success.schema : [success.schema];
  const content: Record<string, unknown> = {
    "application/json": { schema: schemas.length === 1 ? ref(schemas[0]!) : { oneOf: schemas.map(ref) } },
  };
  for (const [type, alt] of Object.entries(success.alternatives ?? {}))
    content[type] = { schema: { type: "string", description: alt.description } };
  const responses: Record<string, unknown> = { [String(success.status)]: { description: success.description, content } };
  const errors = new Set([
    ...route.errors,
    ...(route.public ? [] : [401]),
    // defineRoute refuses cookie-authenticated cross-site writes (403) and bodies over 1 MB (413).
    ...(route.public || route.method === "get" ? [] : [403]),
    ...(route.body ? [413] : []),
    500,
  ]);
  for (const status of [...errors].sort()) {
    responses[String(status)] = {
      description: STATUS_TEXT[status] ?? "Error",
      content: { "application/json": { schema: ref(errorSchema) } },
    };
  }
  return {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    ...(route.public ? { security: [] } : {}),
    parameters: parameters(route),
    ...(route.body ? { requestBody: { required: true, content: { "application/json": { schema: inputSchema(route.body) } } } } : {}),
    responses,
  };
}

let cached: Record<string, unknown> | undefined;

/** The OpenAPI 3.1 document (built once per process; it depends only on code). */
export function openApiDocument(): Record<string, unknown> {
  if (cached) return cached;
  const { schemas } = z.toJSONSchema(apiComponents, { uri: componentUri }) as { schemas: Record<string, Record<string, unknown>> };
  const components: Record<string, unknown> = {};
  for (const [id, s] of Object.entries(schemas)) {
    const { $schema: _s, $id: _i, ...rest } = s;
    components[id] = tidy(rest);
  }
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of Object.values(API_ROUTES) as ApiRouteSpec[]) (paths[route.path] ??= {})[route.method] = operation(route);
  cached = {
    openapi: "3.1.0",
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    info: {
      title: "sand-boxer API",
      version: "1",
      description:
        "Self-service sandboxes for scripts, CI and the `sandboxer` CLI. Authenticate with `Authorization: Bearer sbx_…` " +
        "(an API token from Settings → API tokens) or a session cookie. A token with the `read` scope may only GET; " +
        "`full` may do what its owner may except admin work, which needs the `admin` scope too. " +
        "Errors are `{ code, message, details?, fieldErrors? }`.",
    },
    servers: [{ url: API_BASE_PATH }],
    security: [{ bearerToken: [] }, { sessionCookie: [] }],
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        bearerToken: { type: "http", scheme: "bearer", bearerFormat: "sbx_…", description: "An API token" },
        sessionCookie: {
          type: "apiKey",
          in: "cookie",
          name: "sandboxer.session_token",
          description: "The dashboard's session; writes with it need an Origin of this site and Content-Type: application/json",
        },
      },
    },
  };
  return cached;
}
