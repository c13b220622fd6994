// The web server behind `npm start` and `npm run dev`: Next's own request handler behind a thin front
// door that `next start` cannot provide — the client's address from the socket (next start fills
// X-Forwarded-For only when the client sent none, so a forged one hid the peer) and the security
// headers, with a fresh CSP nonce, on every response. What the door does is lib/http/front-door.ts;
// the app builds it at start (instrumentation.ts → lib/server-start.ts) and puts it in the slot below.
//
//   node server.mjs [--dev]      (HOST and PORT from the environment, as npm start passes them)
import http from "node:http";

import { applyV8Flags } from "./lib/v8-tuning.mjs";

// First: the V8 settings for this Node release (Buffer reclaim on Node 24), before Next loads.
const v8Flags = applyV8Flags();

const dev = process.argv.includes("--dev");
// As `next start` / `next dev` do, before Next loads anything that reads it.
process.env.NODE_ENV ??= dev ? "development" : "production";
const hostname = process.env.HOST || "127.0.0.1";
const port = Number(process.env.PORT || 3000);

/**
 * This file's own lines, in the app's log format (lib/logger.ts): JSON lines (pino's shape) unless
 * stdout is a terminal or LOG_FORMAT=pretty.
 */
const pretty = process.env.LOG_FORMAT === "pretty" || (process.env.LOG_FORMAT !== "json" && process.stdout.isTTY);
function log(level, msg, err, fields = {}) {
  const stream = level >= 50 ? process.stderr : process.stdout;
  if (pretty) {
    stream.write(`${msg}${err ? `\n${err.stack ?? err}` : ""}\n`);
    return;
  }
  stream.write(record(level, msg, err ? { err: { type: err.name, message: err.message, stack: err.stack }, ...fields } : fields));
}

/** One JSON log line, in pino's shape. */
function record(level, msg, extra = {}) {
  return `${JSON.stringify({ level, time: Date.now(), pid: process.pid, app: "sandboxer", msg, ...extra })}\n`;
}

/** Whether every line of `text` is a JSON object (what pino writes), not text that merely looks like one. */
function isJsonLines(text) {
  return text.split("\n").every((line) => {
    if (!line.startsWith("{")) return false;
    try {
      return typeof JSON.parse(line) === "object";
    } catch {
      return false;
    }
  });
}

// Whatever else reaches stdout or stderr as free text (Next's own "✓ Running next.config.ts" while it
// loads, a library's print) becomes a record of the same shape, so a log shipper never meets a line
// that is not JSON. The app's own records (pino) are JSON already and pass through untouched.
if (!pretty) {
  const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]/g;
  for (const [stream, level] of [
    [process.stdout, 30],
    [process.stderr, 40],
  ]) {
    const write = stream.write.bind(stream);
    stream.write = (chunk, encoding, cb) => {
      const text = (typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8")).trim();
      if (text === "" || isJsonLines(text)) return write(chunk, encoding, cb);
      const line = record(level, text.replace(ANSI, "").slice(0, 10_000), { component: "stdio" });
      return write(line, typeof encoding === "function" ? encoding : cb);
    };
  }
}

const slot = { door: undefined };
globalThis[Symbol.for("sand-boxer.front-door")] = slot;

const { default: next } = await import("next");
const app = next({ dev, dir: import.meta.dirname, hostname, port });
const handle = app.getRequestHandler();
await app.prepare();

const server = http.createServer((req, res) => {
  if (!slot.door) {
    // Only while the app is still starting (its instrumentation installs the door first thing).
    res.writeHead(503, { "content-type": "application/json", "retry-after": "1" });
    res.end(JSON.stringify({ code: "INTERNAL", message: "The server is starting; try again in a moment" }));
    return;
  }
  slot.door(req, res);
  handle(req, res).catch((err) => {
    log(50, "request failed", err);
    if (!res.headersSent) res.statusCode = 500;
    res.end();
  });
});
if (dev) {
  const upgrade = app.getUpgradeHandler();
  server.on("upgrade", (req, socket, head) => void upgrade(req, socket, head).catch(() => socket.destroy()));
}
// Idle keep-alive connections stay open 65 s, not Node's 5 s: a client (or a proxy in front, whose idle
// timeout is commonly 60 s) that reuses a connection just as the server closes it gets ECONNRESET on a
// request the server never read. The server must be the side that waits longer.
server.keepAliveTimeout = 65_000;
server.on("error", (err) => {
  log(60, `cannot listen on ${hostname}:${port}: ${err.message}`);
  process.exit(1);
});
server.listen(port, hostname, () =>
  log(30, `sand-boxer listening on http://${hostname}:${port}${dev ? " (dev)" : ""}`, undefined, { node: process.version, v8Flags }),
);

// Stop taking requests, let open ones finish (event streams are cut after a grace period), then exit.
// The worker and the SSH gateway stop on the same signals (lib/manager/background.ts, lib/gateway).
let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    server.close(() => void app.close().finally(() => process.exit(signal === "SIGINT" ? 130 : 143)));
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 5_000).unref();
  });
}
