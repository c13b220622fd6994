// The team event stream (GET /api/v1/events) over real HTTP on the built app (SQLite, local sandboxes):
// a create and a destroy arrive as state, log and sandbox frames — the destroy's log lines included —;
// Last-Event-ID resumes with exactly the later events; the JSON form pages by id; a person's ninth open
// stream (cap 8 here) is refused with 429 TOO_MANY_STREAMS, a sandbox's own event stream too (one count
// for every stream route); many open streams cost the database one reader.
import fs from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { SseParser, type SseMessage } from "@/cli/sse";
import { API_BASE_PATH } from "@/lib/api/openapi";
import { createToken } from "@/lib/auth/tokens";

import { signUp, startAppServer, type AppServer } from "../support/app-server";
import { createTestDatabase, type TestDatabase } from "../support/databases";
import { writeConfigDir } from "../support/manager-harness";

interface OpenStream {
  messages: SseMessage[];
  status: number;
  /** Resolves with the first message matching `pred` (already received ones count). */
  waitFor(pred: (m: SseMessage) => boolean, timeoutMs?: number): Promise<SseMessage>;
  close(): void;
}

describe("team event stream", () => {
  let database: TestDatabase;
  let server: AppServer;
  let configDir: string;
  let alice: string;
  let aliceCookie: string;
  let admin: string;
  const open: OpenStream[] = [];

  async function stream(opts: { token?: string; lastEventId?: number; after?: number } = {}): Promise<OpenStream> {
    const ac = new AbortController();
    const qs = opts.after !== undefined ? `?after=${opts.after}` : "";
    const res = await fetch(`${server.url}${API_BASE_PATH}/events${qs}`, {
      headers: {
        accept: "text/event-stream",
        authorization: `Bearer ${opts.token ?? alice}`,
        ...(opts.lastEventId !== undefined ? { "last-event-id": String(opts.lastEventId) } : {}),
      },
      signal: ac.signal,
    });
    const messages: SseMessage[] = [];
    const waiters: { pred: (m: SseMessage) => boolean; resolve: (m: SseMessage) => void }[] = [];
    const s: OpenStream = {
      messages,
      status: res.status,
      waitFor(pred, timeoutMs = 20_000) {
        const found = messages.find(pred);
        if (found) return Promise.resolve(found);
        return new Promise((resolve, reject) => {
          const t = setTimeout(
            () => reject(new Error(`no matching frame in ${timeoutMs} ms; got ${messages.map((m) => m.event).join(",")}`)),
            timeoutMs,
          );
          waiters.push({ pred, resolve: (m) => (clearTimeout(t), resolve(m)) });
        });
      },
      close: () => ac.abort(),
    };
    if (res.ok && res.body) {
      const parser = new SseParser();
      const decoder = new TextDecoder();
      void (async () => {
        try {
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            for (const m of parser.push(decoder.decode(chunk, { stream: true }))) {
              messages.push(m);
              for (const w of waiters.splice(0)) {
                if (w.pred(m)) w.resolve(m);
                else waiters.push(w);
              }
            }
          }
        } catch {
          // aborted
        }
      })();
    } else await res.body?.cancel();
    open.push(s);
    return s;
  }

  async function api(method: string, url: string, body?: unknown, token = alice) {
    const res = await fetch(`${server.url}${API_BASE_PATH}${url}`, {
      method,
      headers: { accept: "application/json", authorization: `Bearer ${token}`, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  async function metric(name: string): Promise<number> {
    const res = await fetch(`${server.url}/api/metrics`, { headers: { authorization: `Bearer ${admin}` } });
    const text = await res.text();
    const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    if (!line) throw new Error(`${name} not in /api/metrics:\n${text.slice(0, 400)}`);
    return Number(line.split(" ").at(-1));
  }

  const data = (m: SseMessage) => JSON.parse(m.data) as Record<string, unknown>;

  beforeAll(async () => {
    database = await createTestDatabase("sqlite");
    configDir = writeConfigDir({
      includeRepoManifests: true,
      manifests: [],
      profiles: { local: { extension: "ext.local", params: { seed: null } } },
    });
    server = await startAppServer({
      env: {
        DATABASE_URL: database.config.url,
        SANDBOXER_CONFIG_DIR: configDir,
        SANDBOXER_LOCAL_WORKSPACE_ROOT: path.join(configDir, "workspaces"),
        SANDBOXER_QUOTA_ACTIVE: "0",
        // The one per-person cap every stream route shares (16 by default), lowered to keep the test lean.
        SANDBOXER_MAX_STREAMS_PER_PERSON: "8",
      },
    });
    await signUp(server.url, "admin@stream.test");
    aliceCookie = await signUp(server.url, "alice@stream.test");
    const user = (email: string) => database.db.user.findUniqueOrThrow({ where: { email } });
    admin = (
      await createToken(database.db, (await user("admin@stream.test")).id, {
        name: "stream",
        scopes: ["full", "admin"],
        expiresAt: new Date(Date.now() + 86_400_000),
      })
    ).token;
    alice = (
      await createToken(database.db, (await user("alice@stream.test")).id, {
        name: "stream",
        scopes: ["full"],
        expiresAt: new Date(Date.now() + 86_400_000),
      })
    ).token;
  }, 120_000);

  afterAll(async () => {
    for (const s of open) s.close();
    await server?.stop();
    await database?.drop();
    if (configDir) fs.rmSync(configDir, { recursive: true, force: true });
  });

  it("carries a create and a destroy: state and log frames with ids, sandbox snapshots, the destroy's lines", async () => {
    const s = await stream();
    expect(s.status).toBe(200);
    await s.waitFor((m) => m.event === "ready");
    const created = await api("POST", "/sandboxes", { profile: "profile.local" });
    expect(created.status).toBe(202);
    const id = created.json.id as string;
    await s.waitFor((m) => m.event === "sandbox" && data(m).id === id && data(m).status === "ready");
    await api("DELETE", `/sandboxes/${id}`);
    await s.waitFor((m) => m.event === "sandbox" && data(m).id === id && data(m).status === "destroyed");

    const mine = s.messages.filter((m) => (m.event === "log" || m.event === "state") && data(m).sandboxId === id);
    const states = mine.filter((m) => m.event === "state").map((m) => data(m).status);
    expect(states).toEqual(["queued", "creating", "ready", "destroying", "destroyed"]);
    // Every log/state frame has its event id, increasing.
    const ids = mine.map((m) => Number(m.id));
    expect(ids.every((n) => Number.isSafeInteger(n) && n > 0)).toBe(true);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    // The destroy's own log lines (between destroying and destroyed) are on the stream.
    const destroyingAt = mine.findIndex((m) => m.event === "state" && data(m).status === "destroying");
    const destroyedAt = mine.findIndex((m) => m.event === "state" && data(m).status === "destroyed");
    expect(mine.slice(destroyingAt + 1, destroyedAt).filter((m) => m.event === "log").length).toBeGreaterThan(0);
    // The same events as the sandbox's own endpoint, none missing.
    const own = (await api("GET", `/sandboxes/${id}/events?format=json`)).json.events as { id: number }[];
    expect(ids).toEqual(own.map((e) => e.id));
    s.close();
  });

  it("resumes with Last-Event-ID: exactly the later events, then ready; the JSON form pages by id", async () => {
    const s = await stream();
    await s.waitFor((m) => m.event === "ready");
    const id = (await api("POST", "/sandboxes", { profile: "profile.local" })).json.id as string;
    await s.waitFor((m) => m.event === "sandbox" && data(m).id === id && data(m).status === "ready");
    s.close();
    const seen = s.messages.filter((m) => m.id && m.event !== "ready").map((m) => Number(m.id));
    expect(seen.length).toBeGreaterThanOrEqual(3);

    const resumed = await stream({ lastEventId: seen[1]!, after: seen[0]! });
    await resumed.waitFor((m) => m.event === "ready");
    const replayed = resumed.messages.filter((m) => m.id && m.event !== "ready").map((m) => Number(m.id));
    expect(replayed).toEqual(seen.slice(2));
    // A snapshot follows the replayed state changes, so a page that was away sees where it stands.
    expect(resumed.messages.some((m) => m.event === "sandbox" && data(m).id === id)).toBe(true);
    resumed.close();

    const json = await api("GET", `/events?after=${seen[0]}`);
    expect(json.status).toBe(200);
    expect((json.json.events as { id: number }[]).map((e) => e.id)).toEqual(seen.slice(1));
    expect(json.json.lastEventId).toBe(seen.at(-1));
  });

  it("refuses a person's ninth stream with 429 TOO_MANY_STREAMS, a sandbox's event stream too; others are unaffected; metrics count open streams", async () => {
    const sandboxId = (await api("POST", "/sandboxes", { profile: "profile.local" })).json.id as string;
    for (const s of open) s.close();
    await expect.poll(() => metric("sandboxer_event_streams_open"), { timeout: 10_000 }).toBe(0);
    const eight = await Promise.all(Array.from({ length: 8 }, () => stream()));
    await Promise.all(eight.map((s) => s.waitFor((m) => m.event === "ready")));
    expect(eight.map((s) => s.status)).toEqual(Array(8).fill(200));
    const ninth = await fetch(`${server.url}${API_BASE_PATH}/events`, {
      headers: { accept: "text/event-stream", authorization: `Bearer ${alice}` },
    });
    expect(ninth.status).toBe(429);
    expect(((await ninth.json()) as { code: string }).code).toBe("TOO_MANY_STREAMS");
    // The team streams hold the same slots as a sandbox's own event stream (and build logs).
    const own = await fetch(`${server.url}${API_BASE_PATH}/sandboxes/${sandboxId}/events?format=sse`, {
      headers: { authorization: `Bearer ${alice}` },
    });
    expect(own.status).toBe(429);
    expect(((await own.json()) as { code: string }).code).toBe("TOO_MANY_STREAMS");
    const theirs = await stream({ token: admin });
    expect(theirs.status).toBe(200);
    expect(await metric("sandboxer_event_streams_open")).toBe(9);

    // Nine idle streams cost the database the hub's one reader, not one per stream — and that reader, woken
    // by this process's writes and the embedded database's watch of other processes' (lib/db/sqlite-wake.ts),
    // polls only as the 15 s fallback (every 2 s without the watch: 0.5 reads a second).
    // Both counters come from the same /api/metrics reads (a read costs statements of its own, so a second
    // reader running beside the window would count against it). A maintenance pass (~10 statements every
    // few seconds) falls in some windows and not others: each rate is the lower of two 4-second windows.
    const counters = async () => ({
      reads: await metric("sandboxer_event_stream_reads_total"),
      statements: await metric("sandboxer_db_statements_total"),
    });
    const window = async () => {
      const a = await counters();
      await new Promise((r) => setTimeout(r, 4_000));
      const b = await counters();
      return { reads: (b.reads - a.reads) / 4, statements: (b.statements - a.statements) / 4 };
    };
    const rates = async () => {
      const [x, y] = [await window(), await window()];
      return { reads: Math.min(x.reads, y.reads), statements: Math.min(x.statements, y.statements) };
    };
    // The counter is live: the hub's reads carried the create above to these streams.
    expect(await metric("sandboxer_event_stream_reads_total")).toBeGreaterThan(0);
    const { reads: hubReads, statements: withStreams } = await rates();
    // At most one fallback read in one of the two 4-second windows.
    expect(hubReads).toBeLessThanOrEqual(0.25);
    for (const s of [...eight, theirs]) s.close();
    await expect.poll(() => metric("sandboxer_event_streams_open"), { timeout: 10_000 }).toBe(0);
    // The whole process, compared with the same windows with no stream open (the worker's own loops run in
    // both; a maintenance pass may fall in one window only).
    const without = (await rates()).statements;
    expect(withStreams - without).toBeLessThanOrEqual(3);

    expect((await stream()).status).toBe(200);
  });

  it("a client that goes away while its stream is being opened (session check, replay) is not counted for long, nor holds a slot", async () => {
    for (const s of open) s.close();
    await expect.poll(() => metric("sandboxer_event_streams_open"), { timeout: 10_000 }).toBe(0);
    // A sandbox with 1,900 log lines: a stream resuming from before them replays them all, and that
    // replay's reads are the open's longest await.
    const sandboxId = (await api("POST", "/sandboxes", { profile: "profile.local" })).json.id as string;
    const from = (await database.db.event.aggregate({ _max: { id: true } }))._max.id ?? 0;
    await database.db.event.createMany({
      data: Array.from({ length: 1_900 }, (_, i) => ({ sandboxId, type: "log", message: `line ${i}` })),
    });
    // Forty clients signed in as the dashboard is (a session cookie, whose check awaits) leave 0–38 ms
    // after asking, half of them resuming (replaying those lines). A stream whose client left before the
    // route listened for it stayed counted, holding one of the person's slots, until its next heartbeat
    // failed (15 s): 6 of 40 here before the fix; the e2e "twenty tabs" test saw one such stream.
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const ac = new AbortController();
        setTimeout(() => ac.abort(), (i % 20) * 2);
        try {
          const res = await fetch(`${server.url}${API_BASE_PATH}/events`, {
            headers: { accept: "text/event-stream", cookie: aliceCookie, ...(i % 2 ? { "last-event-id": String(from) } : {}) },
            signal: ac.signal,
          });
          await res.body?.cancel();
        } catch {
          // aborted before or after the response
        }
      }),
    );
    // Until the server has been through every one of them (an open not yet at the hub is not counted).
    await new Promise((r) => setTimeout(r, 1_000));
    await expect.poll(() => metric("sandboxer_event_streams_open"), { timeout: 5_000 }).toBe(0);
    const eight = await Promise.all(Array.from({ length: 8 }, () => stream()));
    expect(eight.map((s) => s.status)).toEqual(Array(8).fill(200));
  });
});
