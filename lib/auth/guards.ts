// The one place that checks who may call what. Every server action goes through `defineAction`,
// every route handler through `defineRoute`, every page through `requirePageActor`: each
// authenticates the request itself (middleware or hidden buttons are not protection), asks the policy
// (lib/auth/policy.ts), validates input with zod, and maps errors to one stable shape without internals.
// Actions and pages take the session cookie only; route handlers also take API tokens, within the
// token's scopes (lib/auth/token-scopes.ts). Route handlers also refuse cookie-authenticated
// cross-site writes and bodies over 1 MB.
import "server-only";

import { headers } from "next/headers";
import { redirect } from "next/navigation";
import { cache } from "react";
import type { z } from "zod";

import type { ApiRouteSpec } from "../api/openapi";
import { ForbiddenError, TokenScopeError, UnauthenticatedError, isSandboxerError } from "../errors";
import { errorBody, httpStatusFor, type ErrorBody } from "../http-errors";
import { db } from "../db/client";
import { env } from "../env";
import { BODY_LIMITS, readJsonCapped } from "../http/body-limit";
import { assertSameSiteWrite } from "../http/cross-site";
import { refuseNul } from "../http/no-nul";
import { logger } from "../logger";
import { audit } from "../manager/audit";
import type { Actor } from "./actor";
import { trustedOrigins } from "./auth";
import { can, type AdminAction, type MemberAction } from "./policy";
import { actorFromHeaders, sessionActorFromHeaders } from "./session";
import { scopesAllowMethod, scopesMayGrantAccess } from "./token-scopes";

export type ActionResult<T> = { ok: true; data: T } | ({ ok: false } & ErrorBody);

/** A policy action checked before a request is served (any signed-in person when absent). */
export type Requirement = MemberAction | AdminAction;

/**
 * The caller, if the policy lets them make this request. A signed-in person refused an admin action is
 * audited (result "denied", like a refused sandbox action), naming the action and what they called.
 */
async function authorize(actor: Actor | null, requires: Requirement | undefined, what: string): Promise<Actor> {
  if (!actor) throw new UnauthenticatedError();
  if (requires && !can(actor, requires)) {
    // An admin's token without the admin scope acts as a member: say what would help.
    const hint = actor.kind === "token" && !actor.scopes.includes("admin") ? " (an API token also needs the admin scope)" : "";
    await audit(
      { db: db(), logger: logger() },
      { actor, action: requires, target: what, result: "denied", message: `${what} refused: ${requires} needs the admin role${hint}` },
    );
    throw new ForbiddenError(`This needs the admin role${hint}`);
  }
  return actor;
}

/**
 * A token's scopes against the request: a `read` token may only GET (and HEAD); granting access
 * (creating tokens, registering SSH keys) needs `full`. Refusals are audited and name the scope needed.
 */
async function checkTokenScopes(actor: Actor, method: string, grantsAccess: boolean, what: string): Promise<void> {
  if (actor.kind !== "token") return;
  let refusal: string | null = null;
  if (!scopesAllowMethod(actor.scopes, method))
    refusal = `${what} needs an API token with the full scope; this token has "${actor.scopes.join(" ")}"`;
  else if (grantsAccess && !scopesMayGrantAccess(actor.scopes))
    refusal = `${what} grants access and needs a session or an API token with the full scope; this token has "${actor.scopes.join(" ")}"`;
  if (!refusal) return;
  await audit({ db: db(), logger: logger() }, { actor, action: "token.scope", target: what, result: "denied", message: refusal });
  throw new TokenScopeError(refusal, "full");
}

function formDataToObject(fd: FormData): Record<string, unknown> {
  // Null prototype: a field named "constructor" or "__proto__" is just a field.
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of fd.entries()) {
    if (k.startsWith("$ACTION")) continue;
    if (typeof v !== "string") continue;
    if (k in out) out[k] = ([] as unknown[]).concat(out[k], v);
    else out[k] = v;
  }
  return out;
}

/**
 * A server action: authenticate, ask the policy, parse the input (an object or FormData) with
 * `schema`, run `fn`. Returns `{ ok: true, data }` or `{ ok: false, code, message, fieldErrors }`.
 */
export function defineAction<S extends z.ZodType, T>(
  opts: { schema: S; requires?: Requirement; name: string },
  fn: (input: z.output<S>, actor: Actor) => Promise<T>,
): (input: z.input<S> | FormData) => Promise<ActionResult<T>> {
  return async (raw) => {
    try {
      // The session cookie only: an API token never drives a server action, whatever its scopes.
      const actor = await authorize(await sessionActorFromHeaders(await headers()), opts.requires, `action ${opts.name}`);
      const parsed = opts.schema.parse(refuseNul(raw instanceof FormData ? formDataToObject(raw) : raw));
      return { ok: true, data: await fn(parsed, actor) };
    } catch (e) {
      if (!isSandboxerError(e) && (e as Error)?.name !== "ZodError") logger().error({ err: e, action: opts.name }, "server action failed");
      return { ok: false, ...errorBody(e) };
    }
  };
}

type Parsed<S> = S extends z.ZodType ? z.output<S> : undefined;

/** What a route handler gets: the caller and its input, already validated by the route's spec. */
export interface RouteInput<R extends ApiRouteSpec> {
  params: Parsed<R["params"]>;
  query: Parsed<R["query"]>;
  body: Parsed<R["body"]>;
  /** The caller (for a public route: null). */
  actor: R["public"] extends true ? null : Actor;
  req: Request;
}

export type RouteContext = { params: Promise<Record<string, string | string[]>> };

/**
 * A route handler for one entry of API_ROUTES: authenticates (session cookie or Bearer token; an
 * optional `authenticate` may recognise other credentials first), asks the policy for `spec.requires`,
 * validates path params, query and JSON body with the spec's own zod schemas — the ones the OpenAPI
 * document is made of — and maps errors. The handler returns a Response, or a value sent as JSON with
 * the spec's success status.
 */
export function defineRoute<R extends ApiRouteSpec>(
  spec: R,
  handler: (input: RouteInput<R>) => Promise<unknown>,
  opts: { authenticate?: (req: Request) => Actor | null } = {},
): (req: Request, ctx: RouteContext) => Promise<Response> {
  const name = spec.operationId;
  return async (req, ctx) => {
    try {
      const what = `${req.method} ${new URL(req.url).pathname}`;
      const actor = spec.public
        ? null
        : await authorize(opts.authenticate?.(req) ?? (await actorFromHeaders(req.headers)), spec.requires, what);
      if (actor) await checkTokenScopes(actor, req.method, spec.grantsAccess === true, what);
      // A browser sends the session cookie with any request, including one a page on another site
      // makes it send: cookie-authenticated writes must come from this site (tokens are not sent that way).
      if (actor?.kind === "user") assertSameSiteWrite(req, trustedOrigins(env()));
      // No field of any part may hold a NUL (lib/http/no-nul.ts): a 400 naming it, on both databases.
      const params = spec.params ? spec.params.parse(refuseNul(await ctx.params)) : undefined;
      const query = spec.query ? spec.query.parse(refuseNul(Object.fromEntries(new URL(req.url).searchParams))) : undefined;
      // Capped before parsing (413 over 1 MB, chunked bodies counted as they arrive); bad JSON is an empty object.
      const body = spec.body ? spec.body.parse(refuseNul((await readJsonCapped(req, BODY_LIMITS.api)) ?? {})) : undefined;
      const input = { params, query, body, actor, req } as RouteInput<R>;
      const result = await handler(input);
      if (result instanceof Response) return result;
      return Response.json(result, { status: spec.success.status, headers: { "cache-control": "no-store" } });
    } catch (e) {
      return errorResponse(e, name);
    }
  };
}

export function errorResponse(e: unknown, name = "route"): Response {
  const body = errorBody(e);
  if (body.code === "INTERNAL") logger().error({ err: e, route: name }, "route handler failed");
  const status = httpStatusFor(body.code);
  const headersInit: Record<string, string> = { "content-type": "application/json", "cache-control": "no-store" };
  if (status === 401) headersInit["www-authenticate"] = 'Bearer realm="sand-boxer"';
  return new Response(JSON.stringify(body), { status, headers: headersInit });
}

// One session lookup per page render: the layout and the page both ask (React's per-request cache).
// Pages are the dashboard's: the session cookie only, like server actions.
const pageActor = cache(async (): Promise<Actor | null> => sessionActorFromHeaders(await headers()));

/** For pages: the signed-in actor, or a redirect to the sign-in page (pages the policy refuses: a 403 page). */
export async function requirePageActor(opts: { requires?: Requirement; next?: string } = {}): Promise<Actor> {
  const actor = await pageActor();
  if (!actor) redirect(`/sign-in${opts.next ? `?next=${encodeURIComponent(opts.next)}` : ""}`);
  if (opts.requires && !can(actor, opts.requires)) redirect("/forbidden");
  return actor;
}

export async function optionalPageActor(): Promise<Actor | null> {
  return pageActor();
}
