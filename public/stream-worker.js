// sand-boxer: the team event stream (GET /api/v1/events), shared by every tab of this browser through
// a SharedWorker: one connection however many dashboards are open (a browser allows six per host over
// HTTP/1.1). Tabs talk to it with app/lib/team-stream.ts; docs/live-updates.md describes the stream.
"use strict";

const TYPES = ["log", "state", "sandbox", "team", "pool", "ready", "reset"];
/** Frames kept for tabs that attach a moment after their page was rendered. */
const RECENT_MAX = 500;
const ports = new Set();
const recent = [];
let source = null;
let lastId = "";
let up = false;
let retry = null;

function post(port, msg) {
  try {
    port.postMessage(msg);
  } catch {
    ports.delete(port);
  }
}

function broadcast(msg) {
  for (const port of ports) post(port, msg);
}

function setUp(next) {
  if (up === next) return;
  up = next;
  broadcast({ kind: "status", up });
}

function connect() {
  if (source || ports.size === 0) return;
  clearTimeout(retry);
  retry = null;
  source = new EventSource(`/api/v1/events${lastId ? `?after=${encodeURIComponent(lastId)}` : ""}`);
  for (const type of TYPES) {
    source.addEventListener(type, (e) => {
      if (e.lastEventId) lastId = e.lastEventId;
      const frame = { kind: "event", type, data: e.data, at: Date.now(), id: Number(e.lastEventId) || 0 };
      recent.push(frame);
      if (recent.length > RECENT_MAX) recent.shift();
      if (type === "ready") setUp(true);
      broadcast(frame);
    });
  }
  source.onerror = () => {
    setUp(false);
    // CONNECTING: the browser retries by itself, sending Last-Event-ID. CLOSED: the server refused
    // (signed out, too many streams, an error page): try again later from the last id.
    if (source && source.readyState === EventSource.CLOSED) {
      source = null;
      retry = setTimeout(connect, 10_000);
    }
  };
}

function disconnect() {
  if (source) source.close();
  source = null;
  clearTimeout(retry);
  retry = null;
  setUp(false);
}

self.onconnect = (e) => {
  const port = e.ports[0];
  ports.add(port);
  port.onmessage = (m) => {
    const msg = m.data || {};
    if (msg.kind === "hello") {
      post(port, { kind: "status", up });
      // What arrived since the tab's page was rendered (at event id `after`) or started loading: its
      // server render may predate it. A first connection starts from there on the server.
      const since = Number(msg.since) || 0;
      const after = Number(msg.after) || 0;
      for (const frame of recent) if (after > 0 && frame.id > 0 ? frame.id > after : frame.at >= since) post(port, frame);
      if (!source && !lastId && after > 0) lastId = String(after);
      connect();
    } else if (msg.kind === "bye") {
      ports.delete(port);
      if (ports.size === 0) disconnect();
    }
  };
  port.start();
};
