// The standalone worker's own metrics endpoint (`npm run worker` serves no web pages): a small HTTP
// listener on SANDBOXER_WORKER_METRICS_PORT answering GET /metrics with the same text and the same
// auth as /api/metrics — Bearer SANDBOXER_METRICS_TOKEN, or an admin's API token. Its operation
// timings (half the creates, every retry) are scrapeable like an instance's.
import "server-only";

import crypto from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

import { can } from "./auth/policy";
import { tokenRole } from "./auth/token-scopes";
import { verifyToken } from "./auth/tokens";
import type { Logger } from "./logger";
import type { ManagerContext } from "./manager/context";
import { scrape } from "./metrics";

/** Whether `header` is `Bearer <expected>` (constant-time comparison). */
export function bearerMatches(header: string | null | undefined, expected: string | undefined): boolean {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? "");
  if (!expected || !m) return false;
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(expected);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

export interface MetricsListener {
  port: number;
  close(): Promise<void>;
}

export async function startMetricsListener(opts: {
  host: string;
  port: number;
  token: string | undefined;
  ctx: () => Pick<ManagerContext, "db" | "config" | "ssh">;
  log: Logger;
}): Promise<MetricsListener> {
  const authorized = async (authorization: string | undefined): Promise<number> => {
    if (!authorization) return 401;
    if (bearerMatches(authorization, opts.token)) return 200;
    const m = /^Bearer\s+(\S+)$/i.exec(authorization);
    // An expired token is refused like an unknown one (TokenExpiredError → 401).
    const found = m ? await verifyToken(opts.ctx().db, m[1]!).catch(() => null) : null;
    if (!found) return 401;
    const actor = {
      kind: "token" as const,
      userId: found.user.id,
      tokenId: found.tokenId,
      role: tokenRole(found.user.role, found.scopes),
      scopes: found.scopes,
      expiresAt: found.expiresAt,
      label: found.user.email,
    };
    return can(actor, "metrics.read") ? 200 : 403;
  };
  const server = http.createServer((req, res) => {
    void (async () => {
      try {
        if (req.method !== "GET" || (req.url ?? "").split("?")[0] !== "/metrics") {
          res.writeHead(404, { "content-type": "text/plain" }).end("Not found: GET /metrics\n");
          return;
        }
        const status = await authorized(req.headers.authorization);
        if (status !== 200) {
          res
            .writeHead(status, {
              "content-type": "text/plain",
              ...(status === 401 ? { "www-authenticate": 'Bearer realm="sand-boxer"' } : {}),
            })
            .end(
              status === 401
                ? "A metrics token or an admin's API token is needed\n"
                : "This needs the admin role (an API token also needs the admin scope)\n",
            );
          return;
        }
        const { text, contentType } = await scrape(opts.ctx);
        res.writeHead(200, { "content-type": contentType, "cache-control": "no-store" }).end(text);
      } catch (e) {
        opts.log.error({ err: e }, "metrics request failed");
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end("Internal error; the worker's log has the details\n");
      }
    })();
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  opts.log.info({ host: opts.host, port }, `worker metrics on http://${opts.host}:${port}/metrics`);
  return {
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
