// Structured logs (pino, JSON lines on stdout). Child loggers carry sandbox and operation ids so one
// grep follows a sandbox across the web process and the workers. Secrets never go in a log line.
import "server-only";

import pino, { type Logger } from "pino";

export type { Logger };

const globalForLogger = globalThis as unknown as { __sandboxerLogger?: Logger };

export function createLogger(level: string = process.env.LOG_LEVEL ?? "info"): Logger {
  return pino({
    level,
    base: { app: "sandboxer" },
    redact: {
      paths: [
        "*.password",
        "*.token",
        "*.secret",
        "*.authorization",
        "*.privateKey",
        "*.passphrase",
        "headers.authorization",
        "headers.cookie",
      ],
      censor: "[redacted]",
    },
  });
}

/** The process's root logger. */
export function logger(): Logger {
  globalForLogger.__sandboxerLogger ??= createLogger();
  return globalForLogger.__sandboxerLogger;
}
