// The one place that checks who may call what. Every server action goes through `defineAction`,
// every route handler through `defineRoute`, every page through `requirePageActor`: each
// authenticates the request itself (middleware or hidden buttons are not protection), checks the
// role, validates input with zod, and maps errors to one stable shape without internals.
import "server-only";

import { headers } from "next/headers";
import { redirect } from "next/navigation";
import { cache } from "react";
import type { z } from "zod";

import { ForbiddenError, UnauthenticatedError, isSandboxerError } from "../errors";
import { errorBody, httpStatusFor, type ErrorBody } from "../http-errors";
import { logger } from "../logger";
import type { Actor } from "./actor";
import { actorFromHeaders } from "./session";

export type ActionResult<T> = { ok: true; data: T } | ({ ok: false } & ErrorBody);

export type Access = "member" | "admin";

function checkRole(actor: Actor | null, access: Access): Actor {
  if (!actor) throw new UnauthenticatedError();
  if (access === "admin" && !(actor.kind !== "system" && actor.role === "admin")) {
    throw new ForbiddenError("This needs the admin role");
  }
  return actor;
}

function formDataToObject(fd: FormData): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of fd.entries()) {
    if (k.startsWith("$ACTION")) continue;
    if (typeof v !== "string") continue;
    if (k in out) out[k] = ([] as unknown[]).concat(out[k], v);
    else out[k] = v;
  }
  return out;
}

/**
 * A server action: authenticate, check the role, parse the input (an object or FormData) with
 * `schema`, run `fn`. Returns `{ ok: true, data }` or `{ ok: false, code, message, fieldErrors }`.
 */
export function defineAction<S extends z.ZodType, T>(
  opts: { schema: S; access?: Access; name: string },
  fn: (input: z.output<S>, actor: Actor) => Promise<T>,
): (input: z.input<S> | FormData) => Promise<ActionResult<T>> {
  return async (raw) => {
    try {
      const actor = checkRole(await actorFromHeaders(await headers()), opts.access ?? "member");
      const parsed = opts.schema.parse(raw instanceof FormData ? formDataToObject(raw) : raw);
      return { ok: true, data: await fn(parsed, actor) };
    } catch (e) {
      if (!isSandboxerError(e) && (e as Error)?.name !== "ZodError") logger().error({ err: e, action: opts.name }, "server action failed");
      return { ok: false, ...errorBody(e) };
    }
  };
}

export type RouteContext<P> = { params: Promise<P> };

/** A route handler: authenticate (session cookie or Bearer token), check the role, map errors. */
export function defineRoute<P = Record<string, string>>(
  opts: { access?: Access; name: string },
  fn: (req: Request, actor: Actor, ctx: RouteContext<P>) => Promise<Response>,
): (req: Request, ctx: RouteContext<P>) => Promise<Response> {
  return async (req, ctx) => {
    try {
      const actor = checkRole(await actorFromHeaders(req.headers), opts.access ?? "member");
      return await fn(req, actor, ctx);
    } catch (e) {
      return errorResponse(e, opts.name);
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
const pageActor = cache(async (): Promise<Actor | null> => actorFromHeaders(await headers()));

/** For pages: the signed-in actor, or a redirect to the sign-in page (admin pages: a 403 page). */
export async function requirePageActor(opts: { access?: Access; next?: string } = {}): Promise<Actor> {
  const actor = await pageActor();
  if (!actor) redirect(`/sign-in${opts.next ? `?next=${encodeURIComponent(opts.next)}` : ""}`);
  if (opts.access === "admin" && actor.kind !== "system" && actor.role !== "admin") redirect("/forbidden");
  return actor;
}

export async function optionalPageActor(): Promise<Actor | null> {
  return pageActor();
}
