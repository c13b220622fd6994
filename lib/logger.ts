// Structured logs (pino). Every line on stdout is one JSON object — better-auth's messages and
// anything written with console.* included (routeConsole) — so a log shipper never meets ANSI colour
// or free text. When stdout is a terminal (a person ran `npm start` or `npm run worker`), the same
// records are printed by pino-pretty instead; LOG_FORMAT=json|pretty overrides the choice.
// Child loggers carry sandbox and operation ids so one grep follows a sandbox across the web process
// and the workers. Secrets never go in a log line.
import "server-only";

import { format } from "node:util";

import pino, { type DestinationStream, type Logger } from "pino";
import pretty from "pino-pretty";

export type { Logger };

const globalForLogger = globalThis as unknown as { __sandboxerLogger?: Logger; __sandboxerConsoleRouted?: boolean };

const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;

/** Text without terminal escape sequences (colour codes of libraries that assumed a terminal). */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, "");
}

/** Whether records are printed for a person (pretty) or a machine (JSON lines). */
export function logFormat(stream: { isTTY?: boolean } = process.stdout, override = process.env.LOG_FORMAT): "json" | "pretty" {
  if (override === "json" || override === "pretty") return override;
  return stream.isTTY ? "pretty" : "json";
}

export function createLogger(
  level: string = process.env.LOG_LEVEL ?? "info",
  destination: DestinationStream | undefined = logFormat() === "pretty" ? pretty({ colorize: true, sync: true }) : undefined,
): Logger {
  const options: pino.LoggerOptions = {
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
  };
  return destination ? pino(options, destination) : pino(options);
}

/** The process's root logger. */
export function logger(): Logger {
  globalForLogger.__sandboxerLogger ??= createLogger();
  return globalForLogger.__sandboxerLogger;
}

/** Splits console-style arguments into a message and, when there is one, the error for pino's `err`. */
function toRecord(args: unknown[]): { err?: unknown; msg: string } {
  const err = args.find((a) => a instanceof Error);
  const rest = args.filter((a) => a !== err);
  return { ...(err ? { err } : {}), msg: stripAnsi(format(...rest)).slice(0, 10_000) };
}

/** better-auth's logger option: its messages become records of ours (no colour, `component: better-auth`). */
export function betterAuthLogger(base: () => Logger = logger) {
  return {
    disableColors: true,
    level: "warn" as const,
    log: (level: "debug" | "info" | "warn" | "error", message: string, ...args: unknown[]) => {
      const { err, msg } = toRecord([message, ...args]);
      base()
        .child({ component: "better-auth" })
        [level](err ? { err } : {}, msg);
    },
  };
}

/**
 * Routes console.log/info/warn/error/debug (Next.js's request errors, libraries) through the logger,
 * so they too are JSON lines. Once per process; instrumentation and the worker script call it.
 */
export function routeConsole(log: Logger = logger(), target: Pick<Console, "log" | "info" | "warn" | "error" | "debug"> = console): void {
  if (target === console) {
    if (globalForLogger.__sandboxerConsoleRouted) return;
    globalForLogger.__sandboxerConsoleRouted = true;
  }
  const child = log.child({ component: "console" });
  const to =
    (level: "info" | "warn" | "error" | "debug") =>
    (...args: unknown[]) => {
      const { err, msg } = toRecord(args);
      child[level](err ? { err } : {}, msg);
    };
  target.log = to("info");
  target.info = to("info");
  target.warn = to("warn");
  target.error = to("error");
  target.debug = to("debug");
}
