// The host registry on both databases: hosts.yaml sync (add, update, disable), tunnel ports allocated
// from the configured range without two hosts ever holding one port, and admin-pinned keys surviving
// a re-sync until the file itself changes its key.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { hostEntrySchema, readHostsFile, type HostEntry } from "@/lib/hosts/hosts-file";
import { allocateTunnelPort, syncHosts } from "@/lib/hosts/host-sync";

import { createTestDatabase, PROVIDERS, type TestDatabase } from "../support/databases";

const KEY_A = "SHA256:yxDsDM/epuuEOAJVnVc9mGzo4m/+p/Ud1TV9YBbG+mI";
const KEY_B = "SHA256:d6fqErnZNgEwkwKhLdAaqA8eJDq1kjFRKsDtBhdXleQ";

function host(id: string, extra: Record<string, unknown> = {}): HostEntry {
  return hostEntrySchema.parse({ id, user: "build", hostKey: KEY_A, tunnelPort: "auto", ...extra });
}

describe.each(PROVIDERS)("host registry on %s", (provider) => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase(provider);
  });
  afterAll(async () => t?.drop());

  it("allocates distinct tunnel ports from the range, keeps them across syncs, and says when the range is full", async () => {
    const range = { low: 12400, high: 12402 };
    await syncHosts(t.db, [host("t1"), host("t2"), host("fixed", { tunnelPort: 12401 })], range);
    const rows = await t.db.buildHost.findMany({ where: { id: { in: ["t1", "t2", "fixed"] } }, orderBy: { id: "asc" } });
    const ports = Object.fromEntries(rows.map((r) => [r.id, r.tunnelPort]));
    expect(ports.fixed).toBe(12401);
    expect(new Set(Object.values(ports)).size).toBe(3);
    for (const p of Object.values(ports)) {
      expect(p).toBeGreaterThanOrEqual(12400);
      expect(p).toBeLessThanOrEqual(12402);
    }
    // The manager connects to the tunnel: port follows the allocated tunnel port on 127.0.0.1.
    expect(rows.find((r) => r.id === "t1")).toMatchObject({ address: "127.0.0.1", port: ports.t1 });
    await syncHosts(t.db, [host("t1"), host("t2"), host("fixed", { tunnelPort: 12401 })], range);
    const again = await t.db.buildHost.findMany({ where: { id: { in: ["t1", "t2", "fixed"] } }, orderBy: { id: "asc" } });
    expect(Object.fromEntries(again.map((r) => [r.id, r.tunnelPort]))).toEqual(ports);
    await expect(syncHosts(t.db, [host("t1"), host("t2"), host("fixed", { tunnelPort: 12401 }), host("t4")], range)).rejects.toMatchObject({
      code: "TUNNEL_PORTS_EXHAUSTED",
    });
  });

  it("never gives one port to two hosts, even when allocations race", async () => {
    const range = { low: 12500, high: 12520 };
    const ids = Array.from({ length: 8 }, (_, i) => `race${i}`);
    await t.db.buildHost.createMany({
      data: ids.map((id) => ({ id, title: id, address: "127.0.0.1", port: 22, user: "b", hostKey: KEY_A, labels: [] })),
    });
    const ports = await Promise.all(ids.map((id) => allocateTunnelPort(t.db, id, range)));
    expect(new Set(ports).size).toBe(ids.length);
  });

  it("disables hosts no longer in the file, and brings them back when they return", async () => {
    const range = { low: 12600, high: 12699 };
    await syncHosts(
      t.db,
      [host("keep", { tunnelPort: undefined, address: "127.0.0.9" }), host("gone", { tunnelPort: undefined, address: "127.0.0.9" })],
      range,
    );
    const r = await syncHosts(t.db, [host("keep", { tunnelPort: undefined, address: "127.0.0.9" })], range);
    expect(r.disabled).toContain("gone");
    expect((await t.db.buildHost.findUniqueOrThrow({ where: { id: "gone" } })).health).toBe("disabled");
    await syncHosts(
      t.db,
      [host("keep", { tunnelPort: undefined, address: "127.0.0.9" }), host("gone", { tunnelPort: undefined, address: "127.0.0.9" })],
      range,
    );
    expect((await t.db.buildHost.findUniqueOrThrow({ where: { id: "gone" } })).health).toBe("unknown");
  });

  it("keeps a key an admin pinned until hosts.yaml changes its own", async () => {
    const range = { low: 12700, high: 12799 };
    const entry = host("pinned", { tunnelPort: undefined, address: "127.0.0.9" });
    await syncHosts(t.db, [entry], range);
    await t.db.buildHost.update({ where: { id: "pinned" }, data: { hostKey: KEY_B } }); // what pinHostKey does
    await syncHosts(t.db, [entry], range);
    expect((await t.db.buildHost.findUniqueOrThrow({ where: { id: "pinned" } })).hostKey).toBe(KEY_B);
    const KEY_C = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    await syncHosts(t.db, [{ ...entry, hostKey: KEY_C }], range);
    expect((await t.db.buildHost.findUniqueOrThrow({ where: { id: "pinned" } })).hostKey).toBe(KEY_C);
  });
});

describe("hosts.yaml", () => {
  it("reports duplicate ids, duplicate tunnel ports and bad fields with file and line", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hosts-yaml-"));
    const file = path.join(dir, "hosts.yaml");
    fs.writeFileSync(
      file,
      `apiVersion: sandboxer.dev/v1
hosts:
  - id: a
    user: build
    hostKey: ${KEY_A}
    tunnelPort: 12222
  - id: a
    user: build
    hostKey: ${KEY_B}
    tunnelPort: 12222
`,
    );
    expect(() => readHostsFile(file, "hosts.yaml")).toThrow(/hosts\.yaml:7: hosts\.1\.id: duplicate host id "a"/);
    expect(() => readHostsFile(file, "hosts.yaml")).toThrow(
      /hosts\.yaml:10: hosts\.1\.tunnelPort: tunnel port 12222 is already held by "a"/,
    );
    fs.writeFileSync(file, "apiVersion: sandboxer.dev/v1\nhosts:\n  - id: b\n    user: build\n    hostKey: SHA256:short\n");
    expect(() => readHostsFile(file, "hosts.yaml")).toThrow(/hosts\.yaml:5: hosts\.0\.hostKey: the pinned host key fingerprint/);
    fs.writeFileSync(file, "apiVersion: sandboxer.dev/v1\nhosts:\n  - id: c\n    user: build\n    hostKey: " + KEY_A + "\n");
    expect(() => readHostsFile(file, "hosts.yaml")).toThrow(/hosts\.0\.address: give the VM's address, or a tunnelPort/);
    expect(readHostsFile(path.join(dir, "missing.yaml"))).toEqual([]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
