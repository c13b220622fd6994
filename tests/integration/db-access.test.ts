// The data-access layer on both databases: the same calls, the same answers.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createToken, revokeToken, verifyToken } from "@/lib/auth/tokens";
import { providerOf } from "@/lib/db/client";
import { appendEvents, listAudit, listSandboxEvents, type EventInput } from "@/lib/db/events";
import {
  deleteHostMarked,
  editHost,
  endHostEditing,
  HOST_EDIT_HOLD_MS,
  hostBeingEdited,
  markHostEditing,
  occupancyByHost,
} from "@/lib/db/hosts";
import { appendBuildLog, buildLogTail } from "@/lib/db/images";
import { anyPoolMember } from "@/lib/db/pools";
import { acquireLease, liveWorkerCount, releaseLease, workerHeartbeat } from "@/lib/db/leases";
import { claimOperation, finishOperation, heartbeat, operationCreate } from "@/lib/db/operations";
import { listSandboxPage } from "@/lib/db/sandboxes";
import { uniqueViolationFields } from "@/lib/db/unique";
import { hostViews, publishHostChanged } from "@/lib/manager/host-views";
import { Notifier } from "@/lib/manager/notifier";
import type { SandboxStatus } from "@/lib/manager/states";
import { transition } from "@/lib/manager/transitions";
import { newSandboxId } from "@/lib/sandbox-id";

import { createTestDatabase, PROVIDERS, type TestDatabase } from "../support/databases";
import { plantSandboxRow } from "../support/sandbox-rows";

describe.each(PROVIDERS)("data access on %s", (provider) => {
  let t: TestDatabase;
  const userId = "u_data_1";
  const otherId = "u_data_2";

  beforeAll(async () => {
    t = await createTestDatabase(provider);
    await t.db.user.createMany({
      data: [
        { id: userId, name: "Ada", email: "ada@example.test" },
        { id: otherId, name: "Bo", email: "bo@example.test" },
      ],
    });
  });
  afterAll(async () => t?.drop());

  async function sandbox(
    status: string,
    opts: { ownerId?: string; profileId?: string; createdAt?: Date; hostId?: string; poolKey?: string } = {},
  ) {
    const id = newSandboxId();
    await plantSandboxRow(t.db, {
      id,
      ownerId: opts.ownerId ?? userId,
      profileId: opts.profileId ?? "profile.a",
      extensionId: "ext.fake",
      status,
      params: { nested: { list: [1, 2], flag: true } },
      input: {},
      createdAt: opts.createdAt,
      hostId: opts.hostId,
      poolKey: opts.poolKey,
    });
    return id;
  }

  it("a build log's tail is its last lines, oldest first, and says whether earlier ones exist", async () => {
    await t.db.imageBuild.create({ data: { id: "b_tail", image: "haskell", version: "1", state: "running" } });
    await appendBuildLog(
      t.db,
      "b_tail",
      Array.from({ length: 7 }, (_, i) => ({ level: "info", message: `line ${i + 1}` })),
    );
    const tail = await buildLogTail(t.db, "b_tail", 5);
    expect(tail.lines.map((l) => l.message)).toEqual(["line 3", "line 4", "line 5", "line 6", "line 7"]);
    expect(tail.earlier).toBe(true);
    const all = await buildLogTail(t.db, "b_tail", 7);
    expect(all.lines).toHaveLength(7);
    expect(all.earlier).toBe(false);
  });

  it("stores and returns JSON handles exactly", async () => {
    const id = await sandbox("ready");
    const handle = {
      extension: "ext.vm-packer",
      vm_target: "127.0.0.1",
      ssh_port: 12222,
      workspace_path: "/build/sbx-x",
      tags: ["a", "b"],
      nested: { n: null },
    };
    await t.db.sandbox.update({ where: { id }, data: { handle } });
    const row = await t.db.sandbox.findUniqueOrThrow({ where: { id } });
    expect(row.handle).toEqual(handle);
    expect(row.params).toEqual({ nested: { list: [1, 2], flag: true } });
  });

  it("pages the overview newest first, with counts per status under the same filters", async () => {
    const base = Date.now() - 1_000_000;
    const ids: string[] = [];
    for (let i = 0; i < 7; i++)
      ids.push(
        await sandbox(i % 2 ? "ready" : "failed", { ownerId: otherId, profileId: "profile.paged", createdAt: new Date(base + i * 1000) }),
      );
    await sandbox("destroyed", { ownerId: otherId, profileId: "profile.paged", createdAt: new Date(base + 99_000) });
    const p1 = await listSandboxPage(t.db, { ownerId: otherId, profileId: "profile.paged" }, 1, 3);
    expect(p1.total).toBe(7); // destroyed is not active
    expect(p1.rows.map((r) => r.id)).toEqual([ids[6], ids[5], ids[4]]);
    expect(p1.counts).toEqual({ ready: 3, failed: 4, destroyed: 1 });
    expect(p1.rows[0]!.owner.email).toBe("bo@example.test");
    const p3 = await listSandboxPage(t.db, { ownerId: otherId, profileId: "profile.paged" }, 3, 3);
    expect(p3.rows.map((r) => r.id)).toEqual([ids[0]]);
    const onlyReady = await listSandboxPage(t.db, { ownerId: otherId, profileId: "profile.paged", status: ["ready"] }, 1, 10);
    expect(onlyReady.rows.every((r) => r.status === "ready")).toBe(true);
    expect(onlyReady.total).toBe(3);
  });

  it("moves a sandbox only from the expected state (and lock)", async () => {
    const id = await sandbox("queued");
    const deps = { db: t.db, notifier: new Notifier() };
    const move = (from: SandboxStatus, to: SandboxStatus, lockedBy?: string) =>
      transition(deps, { sandboxId: id, from, to, lockedBy, event: { message: `${from} → ${to}` } }).then((r) => r.moved);
    expect(await move("ready", "destroying")).toBe(false);
    expect(await move("queued", "creating", "op_other")).toBe(false);
    expect(await move("queued", "creating")).toBe(true);
    expect(await move("queued", "creating")).toBe(false);
    expect((await t.db.sandbox.findUniqueOrThrow({ where: { id } })).status).toBe("creating");
  });

  it("refuses a status write outside the transition function, also inside a transaction", async () => {
    const id = await sandbox("queued");
    const refused = /writes status outside the transition function/;
    await expect(t.db.sandbox.update({ where: { id }, data: { status: "ready" } })).rejects.toThrow(refused);
    await expect(t.db.sandbox.updateMany({ where: { id }, data: { status: "ready" } })).rejects.toThrow(refused);
    await expect(t.db.$transaction((tx) => tx.sandbox.updateMany({ where: { id }, data: { status: "ready" } }))).rejects.toThrow(refused);
    await expect(
      t.db.sandbox.create({
        data: { id: newSandboxId(), ownerId: userId, profileId: "p", extensionId: "e", status: "ready", params: {}, input: {} },
      }),
    ).rejects.toThrow(refused);
    // Other columns, and filters on status, are ordinary writes.
    await t.db.sandbox.updateMany({ where: { id, status: "queued" }, data: { statusReason: "still waiting" } });
    const row = await t.db.sandbox.findUniqueOrThrow({ where: { id } });
    expect(row.status).toBe("queued");
    expect(row.statusReason).toBe("still waiting");
  });

  it("claims an operation once, heartbeats only for its owner, releases the sandbox lock at the end", async () => {
    const id = await sandbox("queued");
    const op = await t.db.operation.create(operationCreate({ kind: "create", sandboxId: id, maxAttempts: 3 }));
    const [a, b] = await Promise.all([
      claimOperation(t.db, op, "w1", new Date(), 10_000),
      claimOperation(t.db, op, "w2", new Date(), 10_000),
    ]);
    const winners = [a, b].filter(Boolean);
    expect(winners).toHaveLength(1);
    const owner = winners[0]!.leaseOwner!;
    expect(await heartbeat(t.db, winners[0]!, owner === "w1" ? "w2" : "w1", new Date(), 10_000)).toBe(false);
    expect(await heartbeat(t.db, winners[0]!, owner, new Date(), 10_000)).toBe(true);
    // A second operation of the same sandbox cannot be claimed while the first holds the lock.
    const second = await t.db.operation.create(operationCreate({ kind: "destroy", sandboxId: id, maxAttempts: 3 }));
    expect(await claimOperation(t.db, second, "w3", new Date(), 10_000)).toBeNull();
    expect(await finishOperation(t.db, winners[0]!, owner, { state: "succeeded" })).toBe(true);
    expect((await t.db.sandbox.findUniqueOrThrow({ where: { id } })).lockOperationId).toBeNull();
    expect(await claimOperation(t.db, second, "w3", new Date(), 10_000)).not.toBeNull();
  });

  it("a claim that finds its operation already ended (a destroy cancelled the queued create) gives back the sandbox lock it took", async () => {
    const id = await sandbox("destroying");
    const create = await t.db.operation.create(operationCreate({ kind: "create", sandboxId: id, maxAttempts: 3 }));
    // Where the race leaves it: the claim locked the sandbox, then the destroy cancelled the create.
    await t.db.operation.update({ where: { id: create.id }, data: { state: "cancelled", finishedAt: new Date() } });
    expect(await claimOperation(t.db, create, "w1", new Date(), 30_000)).toBeNull();
    expect((await t.db.sandbox.findUniqueOrThrow({ where: { id } })).lockOperationId).toBeNull();
    // So the destroy runs now, not when a 30 s lease would have expired.
    const destroy = await t.db.operation.create(operationCreate({ kind: "destroy", sandboxId: id, maxAttempts: 3 }));
    expect(await claimOperation(t.db, destroy, "w2", new Date(), 30_000)).not.toBeNull();
  });

  it("gives a named lease to one owner until it expires", async () => {
    expect(await acquireLease(t.db, "reaper-test", "a", 60_000)).toBe(true);
    expect(await acquireLease(t.db, "reaper-test", "b", 60_000)).toBe(false);
    expect(await acquireLease(t.db, "reaper-test", "a", 60_000)).toBe(true);
    expect(await acquireLease(t.db, "reaper-test", "b", 60_000, new Date(Date.now() + 120_000))).toBe(true);
    await releaseLease(t.db, "reaper-test", "b");
    expect(await acquireLease(t.db, "reaper-test", "c", 1_000)).toBe(true);
    const results = await Promise.all(["x", "y", "z"].map((o) => acquireLease(t.db, "race-test", o, 60_000)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it("counts live workers by heartbeat", async () => {
    await workerHeartbeat(t.db, { id: "w-live", hostname: "h", pid: 1 });
    await workerHeartbeat(t.db, { id: "w-dead", hostname: "h", pid: 2 }, new Date(Date.now() - 600_000));
    expect(await liveWorkerCount(t.db, 30_000)).toBe(1);
  });

  it("appends events in order and resumes after an id", async () => {
    const id = await sandbox("creating");
    await appendEvents(
      t.db,
      Array.from({ length: 5 }, (_, i) => ({ sandboxId: id, type: "log" as const, message: `line ${i}` })),
    );
    const all = await listSandboxEvents(t.db, id);
    expect(all.map((e) => e.message)).toEqual(["line 0", "line 1", "line 2", "line 3", "line 4"]);
    const rest = await listSandboxEvents(t.db, id, { afterId: all[2]!.id });
    expect(rest.map((e) => e.message)).toEqual(["line 3", "line 4"]);
    await appendEvents(t.db, [
      { type: "audit", action: "sandbox.destroy", target: id, result: "denied", message: "no", actorId: otherId, sourceIp: "127.0.0.1" },
    ]);
    const audit = await listAudit(t.db, { action: "sandbox.", target: id });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ result: "denied", actorId: otherId, sourceIp: "127.0.0.1" });
  });

  it("a batch of events is stored as createMany stores it (one multi-row INSERT of typed parameters)", async () => {
    expect(providerOf(t.db)).toBe(provider); // else appendEvents would take createMany's path here too
    const id = await sandbox("creating");
    const at = new Date("2026-12-03T09:10:11.120Z");
    const batch = (tag: string): EventInput[] => [
      { sandboxId: id, type: "log", message: `${tag} plain`, createdAt: at },
      {
        sandboxId: id,
        type: "log",
        level: "warn",
        message: `${tag} ✓ “q” 'x'); DELETE FROM "Event"; --`,
        createdAt: new Date(at.getTime() + 1_000),
      },
      {
        type: "audit",
        action: "x.batch",
        target: id,
        result: "ok",
        actorId: otherId,
        actorLabel: "Ada <a@example.test>",
        sourceIp: "::1",
        message: `${tag} audit`,
        data: { n: 1.5, s: "x\n\ty", nested: { a: [1, null, "z"], t: true } },
        createdAt: at,
      },
    ];
    // A transaction client takes createMany's path; the process client the multi-row INSERT.
    await t.db.$transaction((tx) => appendEvents(tx, batch("typed")));
    await appendEvents(t.db, batch("raw"));
    const read = async (tag: string) => {
      const rows = await t.db.event.findMany({ where: { message: { startsWith: `${tag} ` } }, orderBy: { id: "asc" } });
      return rows.map(({ id: _id, ...r }) => ({ ...r, message: r.message.slice(tag.length) }));
    };
    const typed = await read("typed");
    expect(typed).toHaveLength(3);
    expect(await read("raw")).toEqual(typed);
    // Stored alike, not only read back alike (SQLite keeps timestamps and JSON as text; read as text).
    const stored = async (tag: string) =>
      (
        await t.db.$queryRawUnsafe<Record<string, unknown>[]>(
          `SELECT "level", CAST("data" AS TEXT) AS "data", CAST("createdAt" AS TEXT) AS "createdAt", "sandboxId", "actorId", "result" FROM "Event" WHERE "message" LIKE '${tag} %' ORDER BY "id"`,
        )
      ).map((r) => JSON.stringify(r));
    expect(await stored("raw")).toEqual(await stored("typed"));
    // Without a timestamp of its own a row gets the time of the write, as with Prisma's default.
    const before = Date.now();
    await appendEvents(t.db, [
      { sandboxId: id, type: "log", message: "now a" },
      { sandboxId: id, type: "log", message: "now b" },
    ]);
    const now = await t.db.event.findMany({ where: { message: { startsWith: "now " } }, orderBy: { id: "asc" } });
    expect(now.map((e) => e.message)).toEqual(["now a", "now b"]);
    for (const e of now) expect(Math.abs(e.createdAt.getTime() - before)).toBeLessThan(5_000);
  });

  it("a NUL a remote host printed is stored as U+FFFD, not refused with the rest of its batch", async () => {
    const id = await sandbox("creating");
    const at = new Date("2026-12-03T10:00:00.000Z");
    await appendEvents(t.db, [{ sandboxId: id, type: "state", message: "failed: stderr a\u0000b", data: { stderr: ["x\u0000"], at } }]);
    await appendEvents(t.db, [
      { sandboxId: id, type: "log", message: "line \u0000one" },
      { sandboxId: id, type: "log", message: "line two" },
    ]);
    const rows = await listSandboxEvents(t.db, id, { types: ["log", "state"] });
    expect(rows.map((e) => e.message)).toEqual(["failed: stderr a\ufffdb", "line \ufffdone", "line two"]);
    expect(rows[0]!.data).toEqual({ stderr: ["x\ufffd"], at: at.toISOString() });
  });

  it("a NUL in a status reason or an operation's error is stored as U+FFFD: the move and the end are not lost", async () => {
    const id = await sandbox("queued");
    const op = await t.db.operation.create(operationCreate({ kind: "create", sandboxId: id, maxAttempts: 3 }));
    const claimed = (await claimOperation(t.db, op, "w-nul", new Date(), 10_000))!;
    const moved = await transition(
      { db: t.db, notifier: new Notifier() },
      {
        sandboxId: id,
        from: "queued",
        to: "failed",
        lockedBy: claimed.id,
        set: { statusReason: "rsync: a\u0000b" },
        event: { message: "failed: rsync: a\u0000b" },
        finish: { op: claimed, owner: "w-nul", result: { state: "failed", errorCode: "X", error: "stderr \u0000" } },
      },
    );
    expect(moved).toMatchObject({ moved: true, finished: true });
    const row = await t.db.sandbox.findUniqueOrThrow({ where: { id } });
    expect(row).toMatchObject({ status: "failed", statusReason: "rsync: a\ufffdb" });
    expect((await t.db.operation.findUniqueOrThrow({ where: { id: op.id } })).error).toBe("stderr \ufffd");
  });

  it("never lets two hosts hold the same tunnel port (a database constraint)", async () => {
    const host = (id: string, tunnelPort: number | null) =>
      t.db.buildHost.create({
        data: { id, title: id, address: "127.0.0.1", port: 22, user: "b", hostKey: "SHA256:x", labels: [], tunnelPort },
      });
    await host("tp-a", 12222);
    await host("tp-b", null);
    await host("tp-c", null);
    await expect(host("tp-d", 12222)).rejects.toMatchObject({ code: "P2002" });
    await expect(t.db.buildHost.update({ where: { id: "tp-b" }, data: { tunnelPort: 12222 } })).rejects.toMatchObject({ code: "P2002" });
    // Which key was hit, named the same on both databases (SQLite names fields, PostgreSQL the index).
    const fieldsOf = (p: Promise<unknown>) => p.then(() => null, uniqueViolationFields);
    expect(await fieldsOf(host("tp-d", 12222))).toEqual(["tunnelPort"]);
    expect(await fieldsOf(host("tp-a", null))).toEqual(["id"]);
    expect(await fieldsOf(t.db.buildHost.update({ where: { id: "tp-b" }, data: { tunnelPort: 12222 } }))).toEqual(["tunnelPort"]);
    expect(uniqueViolationFields(new Error("not a database error"))).toBeNull();
  });

  it("writes a host edit only while its settings are the ones the edit saw (a health write is no change)", async () => {
    const row = await t.db.buildHost.create({
      data: { id: "ed-a", title: "ed-a", address: "127.0.0.1", port: 22, user: "b", hostKey: "SHA256:x", labels: [], capacity: 4 },
    });
    const seen = {
      title: row.title,
      address: row.address,
      port: row.port,
      tunnelPort: row.tunnelPort,
      user: row.user,
      capacity: row.capacity,
      workspaceRoot: row.workspaceRoot,
      markerPath: row.markerPath,
    };
    await t.db.buildHost.update({ where: { id: "ed-a" }, data: { health: "healthy", freeBytes: 1n } });
    expect(await editHost(t.db, "ed-a", { capacity: 6 }, seen)).toBe(true);
    // A second edit decided on the same (now old) settings writes nothing.
    expect(await editHost(t.db, "ed-a", { title: "other" }, seen)).toBe(false);
    expect(await t.db.buildHost.findUniqueOrThrow({ where: { id: "ed-a" } })).toMatchObject({ capacity: 6, title: "ed-a" });
  });

  it("an edit's mark: one edit at a time, its write clears it, a stale one is taken over; a removal needs its own mark", async () => {
    const row = await t.db.buildHost.create({
      data: { id: "mk-a", title: "mk-a", address: "127.0.0.1", port: 22, user: "b", hostKey: "SHA256:x", labels: [], capacity: 4 },
    });
    const seen = { address: row.address, port: row.port };
    const mark = await markHostEditing(t.db, "mk-a", seen);
    expect(mark).toBeInstanceOf(Date);
    const marked = await t.db.buildHost.findUniqueOrThrow({ where: { id: "mk-a" } });
    expect(hostBeingEdited(marked)).toBe(true);
    expect(hostBeingEdited(marked, mark!.getTime() + HOST_EDIT_HOLD_MS + 1)).toBe(false);
    // A second edit while the first is checked, and one decided on other settings, get no mark.
    expect(await markHostEditing(t.db, "mk-a", seen)).toBeNull();
    await endHostEditing(t.db, "mk-a", new Date(mark!.getTime() - 1)); // not its mark: left alone
    expect(await markHostEditing(t.db, "mk-a", seen)).toBeNull();
    // The edit's write needs its mark still there and clears it.
    expect(await editHost(t.db, "mk-a", { port: 2222 }, seen, new Date(mark!.getTime() + 1))).toBe(false);
    expect(await editHost(t.db, "mk-a", { port: 2222 }, seen, mark)).toBe(true);
    expect(await t.db.buildHost.findUniqueOrThrow({ where: { id: "mk-a" } })).toMatchObject({ port: 2222, editingSince: null });
    expect(await markHostEditing(t.db, "mk-a", seen)).toBeNull(); // seen port 22: changed since
    // A mark left by a server that stopped is taken over once it is older than the hold.
    await t.db.buildHost.update({ where: { id: "mk-a" }, data: { editingSince: new Date(Date.now() - HOST_EDIT_HOLD_MS - 1_000) } });
    const removal = await markHostEditing(t.db, "mk-a");
    expect(removal).toBeInstanceOf(Date);
    expect(await deleteHostMarked(t.db, "mk-a", new Date(removal!.getTime() - 1))).toBe(false);
    expect(await deleteHostMarked(t.db, "mk-a", removal!)).toBe(true);
    expect(await t.db.buildHost.findUnique({ where: { id: "mk-a" } })).toBeNull();
  });

  it("counts a host's occupied slots from sandbox states", async () => {
    await t.db.buildHost.create({
      data: { id: "occ", title: "occ", address: "127.0.0.1", port: 22, user: "b", hostKey: "SHA256:x", labels: ["x"], capacity: 3 },
    });
    await sandbox("ready", { hostId: "occ" });
    await sandbox("creating", { hostId: "occ" });
    await sandbox("failed", { hostId: "occ" });
    await sandbox("destroyed", { hostId: "occ" });
    expect((await occupancyByHost(t.db)).get("occ")).toBe(2);
  });

  it("a host's notice carries that host as the hosts list shows it; a read by ids returns only those hosts", async () => {
    const host = (id: string) =>
      t.db.buildHost.create({
        data: { id, title: id, address: "127.0.0.1", port: 22, user: "b", hostKey: "SHA256:x", labels: ["hv"], capacity: 9 },
      });
    for (const id of ["hv-a", "hv-b", "hv-c"]) await host(id);
    await sandbox("ready", { hostId: "hv-a" });
    await sandbox("ready", { hostId: "hv-b" });
    await sandbox("creating", { hostId: "hv-b" });
    await sandbox("destroyed", { hostId: "hv-b" });
    await sandbox("pooled", { hostId: "hv-b", poolKey: "profile.a" });
    await sandbox("creating", { hostId: "hv-b", poolKey: "profile.a" });
    await sandbox("pooled", { hostId: "hv-c", poolKey: "profile.a" });
    const notice = async () => {
      const row = await t.db.event.findFirstOrThrow({ where: { type: "team", action: "host.changed" }, orderBy: { id: "desc" } });
      return row.data as { hostId: string; host?: unknown };
    };
    const deps = { db: t.db, notifier: new Notifier() };
    await publishHostChanged(deps, "hv-b");
    const all = await hostViews(t.db, undefined);
    const b = all.find((h) => h.id === "hv-b")!;
    expect(b).toMatchObject({ sandboxes: 4, pool: { ready: 1, total: 2 } });
    expect(await notice()).toEqual({ hostId: "hv-b", host: b });
    expect((await hostViews(t.db, undefined, ["hv-c", "hv-a"])).map((h) => [h.id, h.sandboxes, h.pool])).toEqual([
      ["hv-a", 1, null],
      ["hv-c", 1, { ready: 1, total: 1 }],
    ]);
    await publishHostChanged(deps, "hv-gone");
    expect(await notice()).toEqual({ hostId: "hv-gone", host: null });
  });

  it("stores only a token's hash, verifies it, and refuses it once revoked", async () => {
    const { token, view } = await createToken(t.db, userId, { name: "ci", scopes: ["full"], expiresAt: new Date(Date.now() + 86_400_000) });
    const row = await t.db.apiToken.findUniqueOrThrow({ where: { id: view.id } });
    expect(JSON.stringify(row)).not.toContain(token);
    expect((await verifyToken(t.db, token))?.user.id).toBe(userId);
    await expect(
      createToken(t.db, userId, { name: "ci", scopes: ["full"], expiresAt: new Date(Date.now() + 86_400_000) }),
    ).rejects.toMatchObject({ code: "DUPLICATE_NAME" });
    await revokeToken(t.db, userId, view.id);
    expect(await verifyToken(t.db, token)).toBeNull();
    expect(await verifyToken(t.db, "sbx_not-a-real-token")).toBeNull();
  });
});

describe.each(PROVIDERS)("warm-pool records on %s", (provider) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(provider);
    await t.db.user.create({ data: { id: "u_pool_1", name: "Ada", email: "ada@example.test" } });
  });
  afterAll(async () => t?.drop());

  const plant = (status: string, poolKey?: string) =>
    plantSandboxRow(t.db, {
      id: newSandboxId(),
      ownerId: "u_pool_1",
      profileId: "profile.p",
      extensionId: "ext.fake",
      status,
      params: {},
      input: {},
      poolKey,
    });

  it("any live member: none among people's sandboxes or destroyed members; one once a member lives", async () => {
    await plant("ready");
    await plant("destroyed", "pk_0123456789abcdef0123456789abcdef");
    expect(await anyPoolMember(t.db)).toBe(false);
    await plant("failed", "pk_0123456789abcdef0123456789abcdef");
    expect(await anyPoolMember(t.db)).toBe(true);
  });
});
