// The CLI's API client over its node:http transport, against a loopback server that answers as told:
// JSON, the server's errors, a refused port, a body that stalls after the head, and an event stream
// that drops once and resumes after the last event.
import http from "node:http";
import type { AddressInfo } from "node:net";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ApiClient, type StreamItem } from "./api-client";
import { EXIT, isCliError } from "./exit-codes";
import { MAX_BODY_BYTES } from "./http";

let server: http.Server;
let url: string;
const seen: { method?: string; path?: string; auth?: string; body: string; lastEventId?: string }[] = [];
let streamCalls = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      seen.push({
        method: req.method,
        path: req.url,
        auth: req.headers.authorization,
        body,
        lastEventId: req.headers["last-event-id"] as string | undefined,
      });
      const path = req.url ?? "";
      if (path.startsWith("/api/v1/ok")) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ hello: "world", echo: body ? JSON.parse(body) : null }));
      } else if (path === "/api/v1/conflict") {
        res.writeHead(409, { "content-type": "application/json" });
        res.end(JSON.stringify({ code: "QUOTA_EXCEEDED", message: "You have 5 active sandboxes", fieldErrors: { profile: ["full"] } }));
      } else if (path === "/api/v1/stall") {
        res.writeHead(200, { "content-type": "application/json" });
        res.write('{"partial":');
      } else if (path === "/api/v1/huge") {
        res.writeHead(200, { "content-type": "application/json" });
        const chunk = Buffer.alloc(1024 * 1024, 0x20);
        let sent = 0;
        const more = () => {
          while (sent <= MAX_BODY_BYTES) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once("drain", more);
          }
          res.end();
        };
        more();
      } else if (path === "/api/v1/not-json") {
        res.writeHead(200, { "content-type": "text/html" });
        res.end("<html>proxy</html>");
      } else if (path.startsWith("/api/v1/sandboxes/s1/events")) {
        streamCalls++;
        res.writeHead(200, { "content-type": "text/event-stream" });
        const event = (id: number) => `event: log\nid: ${id}\ndata: ${JSON.stringify({ id, message: `line ${id}` })}\n\n`;
        if (streamCalls === 1) {
          // Two events, then the connection drops.
          res.write(`retry: 10\n\n${event(1)}${event(2)}`);
          setTimeout(() => res.destroy(), 50);
        } else {
          res.write(event(3));
          res.end(`event: end\ndata: ${JSON.stringify({ id: "s1", status: "ready" })}\n\n`);
        }
      } else {
        res.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function failure(p: Promise<unknown>) {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  if (!isCliError(e)) throw new Error(`expected a CliError, got ${String(e)}`);
  return e;
}

describe("ApiClient over node:http", () => {
  it("sends the token and the JSON body, and parses the answer", async () => {
    const client = new ApiClient(url, "sbx_test");
    expect(await client.get("/ok", { query: { a: "1", skip: undefined } })).toEqual({ hello: "world", echo: null });
    expect(await client.post("/ok", { x: "ü" })).toEqual({ hello: "world", echo: { x: "ü" } });
    expect(seen.at(-2)).toMatchObject({ method: "GET", path: "/api/v1/ok?a=1", auth: "Bearer sbx_test" });
    expect(seen.at(-1)).toMatchObject({ method: "POST", body: '{"x":"ü"}' });
  });

  it("turns the server's error into its message, fields and exit code", async () => {
    const e = await failure(new ApiClient(url, "t").get("/conflict"));
    expect(e.code).toBe("QUOTA_EXCEEDED");
    expect(e.message).toBe("You have 5 active sandboxes\n  profile: full");
    expect(e.exitCode).toBe(EXIT.CONFLICT);
  });

  it("a refused port is 'cannot reach' with the socket's reason (exit 6)", async () => {
    const e = await failure(new ApiClient("http://127.0.0.1:9", "t").get("/ok"));
    expect(e.code).toBe("SERVER_UNREACHABLE");
    expect(e.message).toMatch(/^Cannot reach http:\/\/127\.0\.0\.1:9 \(GET \/ok\): connect ECONNREFUSED 127\.0\.0\.1:9$/);
    expect(e.exitCode).toBe(EXIT.UNREACHABLE);
  });

  it("a body that stalls after the head times out like a silent server", async () => {
    const e = await failure(new ApiClient(url, "t").get("/stall", { timeoutMs: 300 }));
    expect(e.code).toBe("TIMEOUT");
    expect(e.message).toBe(`${url} did not answer GET /stall within 0 s`);
    expect(e.exitCode).toBe(EXIT.UNREACHABLE);
  });

  it("refuses an answer over the size bound, and one that is not JSON", async () => {
    const huge = await failure(new ApiClient(url, "t").get("/huge"));
    expect(huge.code).toBe("BAD_RESPONSE");
    expect(huge.message).toContain("larger than 32 MiB");
    const html = await failure(new ApiClient(url, "t").get("/not-json"));
    expect(html.message).toContain("is not JSON");
  });

  it("an aborted request ends at once with the caller's reason", async () => {
    const ac = new AbortController();
    const p = new ApiClient(url, "t").get("/stall", { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    expect((await failure(p)).code).toBe("INTERRUPTED");
  });

  it("follows an event stream across a dropped connection, resuming after the last event", async () => {
    const items: StreamItem[] = [];
    for await (const item of new ApiClient(url, "t").events("s1")) items.push(item);
    expect(items.map((i) => (i.kind === "end" ? `end:${i.sandbox.status}` : `${i.kind}:${i.event.id}`))).toEqual([
      "log:1",
      "log:2",
      "log:3",
      "end:ready",
    ]);
    const streams = seen.filter((s) => s.path?.startsWith("/api/v1/sandboxes/s1/events"));
    expect(streams.map((s) => s.lastEventId)).toEqual([undefined, "2"]);
  });
});
