// better-auth's `onAPIError.onError`: how its endpoints' errors are logged. Without it better-auth logs
// every refusal at error level — a weak password at sign-up, a wrong one at sign-in — so an operator's
// error alerts fire on what people mistype. A refusal answered with a 4xx is the caller's (the audit log
// records the sign-ins): one info record with its status and code. A 5xx, or anything that is not an
// APIError (a database failure), stays an error with the error itself. Either way the response is
// better-auth's own.
import "server-only";

import { isAPIError } from "better-auth/api";

import { logger, stripAnsi, type Logger } from "../logger";

export function apiErrorLogger(base: () => Logger = logger) {
  return (e: unknown): void => {
    const log = base().child({ component: "better-auth" });
    if (isAPIError(e) && e.statusCode < 500) {
      const code = typeof e.body?.code === "string" ? e.body.code.slice(0, 100) : undefined;
      log.info({ status: e.statusCode, ...(code ? { code } : {}) }, `refused: ${stripAnsi(e.message).slice(0, 500) || e.status}`);
      return;
    }
    log.error({ err: e }, "auth request failed");
  };
}
