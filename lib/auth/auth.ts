// Authentication with better-auth: local email + password accounts, and single sign-on through a
// generic OpenID Connect provider when SANDBOXER_OIDC_* is set. Sessions live in http-only cookies
// (secure whenever the public URL is https). The first account becomes admin; later ones are members.
// Every sign-in is audited with the source address; an account with 5 failures in 15 minutes is
// refused for a while (lib/auth/sign-in-throttle.ts); passwords follow lib/auth/password-policy.ts.
import "server-only";

import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

import { betterAuth } from "better-auth";
import { prismaAdapter } from "better-auth/adapters/prisma";
import { APIError, createAuthMiddleware } from "better-auth/api";
import { nextCookies } from "better-auth/next-js";
import { genericOAuth } from "better-auth/plugins/generic-oauth";

import { db } from "../db/client";
import { promoteIfNoAdmin } from "../db/users";
import { cleanDisplayName } from "../display-text";
import { CLIENT_ADDRESS_HEADER, behindFrontDoor, requestClientAddress } from "../http/client-address";
import { audit } from "../manager/audit";
import { env, type Env } from "../env";
import { betterAuthLogger, logger } from "../logger";
import { apiErrorLogger } from "./api-error-log";
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, passwordProblem } from "./password-policy";
import { SIGN_IN_THROTTLE, signInAccountKey, signInRetryAfter } from "./sign-in-throttle";

/** better-auth endpoints where a signed-in person (or a reset link) sets a new password. */
const PASSWORD_CHANGE_PATHS = new Set(["/change-password", "/reset-password"]);

export const OIDC_PROVIDER_ID = "oidc";

/**
 * The cookie-signing secret: BETTER_AUTH_SECRET, or for a single embedded instance a random secret
 * generated once into the data directory (mode 0600), so the quick start needs no configuration.
 */
export function authSecret(e: Env): string {
  if (e.BETTER_AUTH_SECRET) return e.BETTER_AUTH_SECRET;
  const file = path.join(e.dataDir, "auth-secret");
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch {
    fs.mkdirSync(e.dataDir, { recursive: true });
    const secret = crypto.randomBytes(32).toString("base64url");
    try {
      fs.writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: "wx" });
      return secret;
    } catch {
      return fs.readFileSync(file, "utf8").trim(); // another process wrote it first
    }
  }
}

export function trustedOrigins(e: Env): string[] {
  const origins = new Set<string>([new URL(e.publicUrl).origin]);
  // The same server is often reached as both localhost and 127.0.0.1.
  const u = new URL(e.publicUrl);
  if (u.hostname === "127.0.0.1" || u.hostname === "localhost") {
    origins.add(`${u.protocol}//127.0.0.1:${u.port}`);
    origins.add(`${u.protocol}//localhost:${u.port}`);
  }
  for (const o of (e.SANDBOXER_TRUSTED_ORIGINS ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean))
    origins.add(o);
  return [...origins];
}

/** A profile picture URL is kept only if it is a plain https URL of sane length (nothing shows it yet). */
function boundedImage(image: unknown): string | null {
  return typeof image === "string" && image.length <= 500 && /^https:\/\/[^\s"'<>]+$/.test(image) ? image : null;
}

function buildAuth() {
  const e = env();
  const client = db();
  return betterAuth({
    appName: "sand-boxer",
    // Its messages become JSON records of ours (no ANSI colour among the log lines).
    logger: betterAuthLogger(),
    // A refusal (4xx) is logged at info, not as an error (./api-error-log.ts).
    onAPIError: { onError: apiErrorLogger() },
    baseURL: e.publicUrl,
    secret: authSecret(e),
    trustedOrigins: trustedOrigins(e),
    database: prismaAdapter(client, { provider: e.database.provider === "sqlite" ? "sqlite" : "postgresql" }),
    emailAndPassword: {
      enabled: true,
      disableSignUp: !e.SANDBOXER_ALLOW_SIGNUP,
      // The full policy (common passwords, sequences, the email) is checked in the before hook.
      minPasswordLength: PASSWORD_MIN_LENGTH,
      maxPasswordLength: PASSWORD_MAX_LENGTH,
    },
    user: {
      additionalFields: {
        // Set by the first-account hook and by admins on the Users page; never by the sign-up body.
        role: { type: "string", required: false, defaultValue: "member", input: false },
      },
    },
    // No cookieCache: every getSession reads the session and its user from the database, and
    // ./session.ts takes the role from that read (a demotion or a revoked session counts at once).
    session: {
      expiresIn: 60 * 60 * 24 * 7,
      updateAge: 60 * 60 * 24,
    },
    advanced: {
      useSecureCookies: e.publicUrl.startsWith("https://"),
      cookiePrefix: "sandboxer",
      // The address server.mjs determined (socket peer, or X-Forwarded-For from a trusted proxy only).
      // Under a bare `next start` nothing vouches for that header: no address rather than a forged one.
      ipAddress: behindFrontDoor() ? { ipAddressHeaders: [CLIENT_ADDRESS_HEADER] } : { disableIpTracking: true },
    },
    rateLimit: { enabled: e.NODE_ENV === "production" && process.env.SANDBOXER_DISABLE_RATE_LIMIT !== "1", window: 60, max: 100 },
    databaseHooks: {
      user: {
        update: {
          // better-auth's /update-user lets a person rename themselves: the same cleaning as sign-up.
          before: async (data) => {
            const out: Record<string, unknown> = { ...data };
            if ("name" in data) out.name = cleanDisplayName(data.name) || "user";
            if ("image" in data) out.image = boundedImage(data.image);
            return { data: out };
          },
        },
        create: {
          before: async (user) => {
            // Every account starts as a member; `after` promotes the first person atomically (the warm
            // pool's system account has role "system" and is no admin, so it does not count).
            const name = cleanDisplayName(user.name) || cleanDisplayName(user.email.split("@")[0]) || "user";
            return { data: { ...user, name, image: boundedImage(user.image), role: "member" } };
          },
          after: async (user) => {
            const role = await promoteIfNoAdmin(client, user.id, e.database.provider);
            await audit(
              { db: client, logger: logger() },
              {
                actor: { kind: "user", userId: user.id, label: user.email, role },
                action: "user.create",
                target: user.email,
                result: "ok",
                message: `Account ${user.email} created (${role})`,
              },
            );
          },
        },
      },
    },
    hooks: {
      before: createAuthMiddleware(async (ctx) => {
        const body = (ctx.body ?? {}) as Record<string, unknown>;
        // Passwords people choose: sign-up, change, reset (the error names the field).
        const chosen = ctx.path === "/sign-up/email" ? body.password : PASSWORD_CHANGE_PATHS.has(ctx.path) ? body.newPassword : undefined;
        if (typeof chosen === "string") {
          const problem = passwordProblem(chosen, { email: typeof body.email === "string" ? body.email : null });
          if (problem) throw new APIError("BAD_REQUEST", { code: "PASSWORD_TOO_WEAK", message: problem });
        }
        // Too many recent failures for this account, from wherever: refused before the password is checked.
        if (ctx.path === "/sign-in/email" && typeof body.email === "string") {
          const email = signInAccountKey(body.email);
          const retryAfter = await signInRetryAfter(client, email);
          if (retryAfter !== null) {
            await audit(
              { db: client, logger: logger() },
              {
                actor: { kind: "anonymous", label: email, ip: ctx.headers ? requestClientAddress(ctx.headers) : undefined },
                action: "auth.sign_in",
                target: email,
                result: "denied",
                message: `Sign-in for ${email} refused: ${SIGN_IN_THROTTLE.failures} failed attempts in ${SIGN_IN_THROTTLE.windowMs / 60_000} minutes (retry in ${retryAfter} s)`,
              },
            );
            throw new APIError(
              "TOO_MANY_REQUESTS",
              {
                code: "SIGN_IN_THROTTLED",
                message: `Too many failed sign-ins for this account: try again in ${Math.ceil(retryAfter / 60)} minute${retryAfter > 60 ? "s" : ""}`,
              },
              { "Retry-After": String(retryAfter) },
            );
          }
        }
      }),
      after: createAuthMiddleware(async (ctx) => {
        if (!ctx.path.startsWith("/sign-in")) return;
        const returned = ctx.context.returned as { statusCode?: number; status?: number | string } | undefined;
        const status = returned && typeof returned === "object" ? (returned.statusCode ?? returned.status) : undefined;
        const failed = returned instanceof Error || (typeof status === "number" && status >= 400) || typeof status === "string";
        // The account key the throttle counts by (lower-cased): one account, however its email was typed.
        const email = typeof ctx.body?.email === "string" ? signInAccountKey(ctx.body.email) : null;
        await audit(
          { db: client, logger: logger() },
          {
            actor: { kind: "anonymous", label: email ?? "unknown", ip: ctx.headers ? requestClientAddress(ctx.headers) : undefined },
            action: "auth.sign_in",
            target: email,
            result: failed ? "failed" : "ok",
            message: failed ? `Sign-in failed for ${email ?? "unknown"}` : `Signed in: ${email ?? ctx.path}`,
          },
        );
      }),
    },
    plugins: [
      ...(e.SANDBOXER_OIDC_ISSUER
        ? [
            genericOAuth({
              config: [
                {
                  providerId: OIDC_PROVIDER_ID,
                  name: e.SANDBOXER_OIDC_NAME,
                  clientId: e.SANDBOXER_OIDC_CLIENT_ID!,
                  clientSecret: e.SANDBOXER_OIDC_CLIENT_SECRET!,
                  discoveryUrl: `${e.SANDBOXER_OIDC_ISSUER.replace(/\/$/, "")}/.well-known/openid-configuration`,
                  scopes: ["openid", "email", "profile"],
                  pkce: true,
                },
              ],
            }),
          ]
        : []),
      nextCookies(),
    ],
  });
}

export type Auth = ReturnType<typeof buildAuth>;

const globalForAuth = globalThis as unknown as { __sandboxerAuth?: Auth };

export function auth(): Auth {
  globalForAuth.__sandboxerAuth ??= buildAuth();
  return globalForAuth.__sandboxerAuth;
}

export function ssoEnabled(): { name: string } | null {
  const e = env();
  return e.SANDBOXER_OIDC_ISSUER ? { name: e.SANDBOXER_OIDC_NAME } : null;
}
