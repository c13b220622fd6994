// Placement's read after assigning, on both databases: a host whose connection changed (an admin's
// edit that landed between the pick's read and its assignment) or that an edit holds now is given
// back, so a create never keeps settings the host no longer has. The edit's own side (mark, then look
// for live sandboxes) is tested against real VMs in host-lifecycle.test.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { Db } from "@/lib/db/client";
import { occupancyWithPeopleByHost } from "@/lib/db/pools";
import { pickHost } from "@/lib/manager/host-picker";
import { OCCUPYING_STATUSES } from "@/lib/manager/states";

import { createTestDatabase, PROVIDERS, type TestDatabase } from "../support/databases";
import { plantSandboxRow } from "../support/sandbox-rows";

describe.each(PROVIDERS)("host picker on %s", (provider) => {
  let t: TestDatabase;
  let n = 0;

  beforeAll(async () => {
    t = await createTestDatabase(provider);
    await t.db.user.create({ data: { id: "u_hp", name: "Ada", email: "ada@example.test" } });
  });
  afterAll(async () => t?.drop());

  async function queuedOn(hostId: string) {
    const id = `hp${++n}`;
    const op = `op_${id}`;
    await t.db.buildHost.create({
      data: {
        id: hostId,
        title: hostId,
        address: "127.0.0.1",
        port: 2222,
        user: "b",
        hostKey: "SHA256:x",
        labels: ["hp"],
        health: "healthy",
      },
    });
    await plantSandboxRow(t.db, {
      id,
      ownerId: "u_hp",
      profileId: "profile.hp",
      extensionId: "ext.fake",
      status: "queued",
      params: {},
      input: {},
      lockOperationId: op,
    });
    return { id, op };
  }

  /** The database as the pick sees it, with `between` run right after the sandbox is assigned a host. */
  function withWriteAfterAssign(between: () => Promise<unknown>): Db {
    const db = t.db;
    return new Proxy(db, {
      get(target, prop, receiver) {
        if (prop !== "sandbox") return Reflect.get(target, prop, receiver);
        return new Proxy(target.sandbox, {
          get(sandbox, p, r) {
            if (p !== "updateMany") return Reflect.get(sandbox, p, r);
            return async (args: Parameters<Db["sandbox"]["updateMany"]>[0]) => {
              const result = await sandbox.updateMany(args);
              if ((args.data as { hostId?: string | null }).hostId) await between();
              return result;
            };
          },
        });
      },
    });
  }

  it("keeps the host when nothing changed in between", async () => {
    const { id, op } = await queuedOn("hp-same");
    const db = withWriteAfterAssign(async () => undefined);
    const picked = await pickHost(db, id, op, { hostId: "hp-same" });
    expect(picked).toMatchObject({ kind: "picked", host: { id: "hp-same", port: 2222 } });
    expect((await t.db.sandbox.findUniqueOrThrow({ where: { id } })).hostId).toBe("hp-same");
  });

  it("gives the host back when an edit moved it between the read and the assignment", async () => {
    const { id, op } = await queuedOn("hp-moved");
    const db = withWriteAfterAssign(() => t.db.buildHost.update({ where: { id: "hp-moved" }, data: { port: 2223 } }));
    const picked = await pickHost(db, id, op, { hostId: "hp-moved" });
    expect(picked).toEqual({ kind: "wait", reason: "Waiting for a host: hp-moved is being changed by an admin" });
    expect((await t.db.sandbox.findUniqueOrThrow({ where: { id } })).hostId).toBeNull();
    // The next pick reads the new settings.
    expect(await pickHost(t.db, id, op, { hostId: "hp-moved" })).toMatchObject({ kind: "picked", host: { port: 2223 } });
  });

  it("gives the host back when an edit marked it in between, and waits while the mark holds", async () => {
    const { id, op } = await queuedOn("hp-marked");
    const db = withWriteAfterAssign(() => t.db.buildHost.update({ where: { id: "hp-marked" }, data: { editingSince: new Date() } }));
    expect(await pickHost(db, id, op, { hostId: "hp-marked" })).toMatchObject({ kind: "wait" });
    expect((await t.db.sandbox.findUniqueOrThrow({ where: { id } })).hostId).toBeNull();
    expect(await pickHost(t.db, id, op, { hostId: "hp-marked" })).toEqual({
      kind: "wait",
      full: false,
      reason: "Waiting for a host: hp-marked: an admin is changing where it is reached",
    });
  });

  it("counts a host's occupying sandboxes and, of them, people's in one grouped read", async () => {
    const queued = await queuedOn("hp-count"); // a person's, queued; given the host below
    const rows: [poolKey: string | null, status: string][] = [
      [null, "ready"],
      ["pool.a", "pooled"],
      ["pool.a", "creating"],
      ["pool.b", "pooled"],
      [null, "destroyed"], // not occupying
      ["pool.a", "failed"], // not occupying
    ];
    for (const [poolKey, status] of rows) {
      await plantSandboxRow(t.db, {
        id: `hpc${++n}`,
        ownerId: "u_hp",
        profileId: "profile.hp",
        extensionId: "ext.fake",
        status,
        params: {},
        input: {},
        hostId: "hp-count",
        poolKey,
      });
    }
    await t.db.sandbox.updateMany({ where: { id: queued.id }, data: { hostId: "hp-count" } });
    const { all, people } = await occupancyWithPeopleByHost(t.db, OCCUPYING_STATUSES);
    expect(all.get("hp-count")).toBe(5);
    expect(people.get("hp-count")).toBe(2);
  });
});
