// A create for another git ref than its profile's pool claims a member and moves it to that ref on the
// VM (a real sshd on loopback, real git): it ends `ready` holding exactly that ref's tree; a ref the
// repository lacks fails with the reason; a bad ref name is a field error; a member whose move fails
// for another reason is removed and the sandbox created afresh.
import fs from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ValidationError } from "@/lib/errors";

import { run, runAs, startBuildVms, stopBuildVms, type BuildVm, type BuildVms } from "../support/build-vms";
import { createVmTestManager, hostEntryFor, type VmTestManager } from "../support/vm-harness";

const POOL = { size: 2, refillConcurrency: 2, maxAge: "1h" };

/** Every file under dir, relative, sorted, without .git. */
function tree(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)))
    .filter((p) => p !== ".git" && !p.startsWith(`.git${path.sep}`))
    .sort();
}

describe("moving a warm-pool member to another git ref (real sshd, real git)", () => {
  let vms: BuildVms;
  let vm: BuildVm;
  let t: VmTestManager;
  const workspace = (id: string) => path.join(vm.workspaceRoot, `sbx-${id}`);

  async function pooled() {
    return t.db.sandbox.findMany({ where: { poolKey: { not: null }, status: "pooled" }, orderBy: { createdAt: "asc" } });
  }

  /** Runs workers until the queue is empty and the pool is full. */
  async function settle(timeoutMs = 90_000) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      await t.newWorker({ id: "settle", config: {} }).runUntilIdle(Math.max(1_000, deadline - Date.now()));
      if ((await pooled()).length >= POOL.size) return;
      await new Promise((r) => setTimeout(r, 300));
    }
    throw new Error(`the pool did not fill: ${(await pooled()).length}/${POOL.size}`);
  }

  beforeAll(async () => {
    vms = await startBuildVms({ vms: [{ name: "mv1", address: "127.0.0.1" }] });
    vm = vms.vm("mv1");
    // A repository the VM can fetch from (owned by the build user): main and feature differ in every way a move must handle.
    const root = path.join(vms.stateDir, "git");
    fs.mkdirSync(root, { mode: 0o755 });
    const uid = Number((await run(["id", "-u", vm.user])).stdout.trim());
    const gid = Number((await run(["id", "-g", vm.user])).stdout.trim());
    fs.chownSync(root, uid, gid);
    const work = path.join(root, "work");
    const bare = path.join(root, "app.git");
    const commit = ["-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m"];
    for (const argv of [
      ["git", "init", "-q", "-b", "main", work],
      [
        "sh",
        "-c",
        'mkdir -p "$1/src" && printf "main\\n" > "$1/README" && printf "old\\n" > "$1/src/only-on-main" && printf "*.o\\n" > "$1/.gitignore"',
        "sh",
        work,
      ],
      ["git", "-C", work, "add", "-A"],
      ["git", "-C", work, ...commit, "main"],
      ["git", "-C", work, "checkout", "-q", "-b", "feature"],
      ["git", "-C", work, "rm", "-q", "src/only-on-main"],
      ["sh", "-c", 'mkdir -p "$1/lib" && printf "feature\\n" > "$1/README" && printf "new\\n" > "$1/lib/only-on-feature"', "sh", work],
      ["git", "-C", work, "add", "-A"],
      ["git", "-C", work, ...commit, "feature"],
      ["git", "clone", "-q", "--bare", work, bare],
    ]) {
      const r = await runAs(vm.user, argv);
      if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
    }
    t = await createVmTestManager("sqlite", vms, {
      hosts: [hostEntryFor(vm, { capacity: 8 })],
      profiles: {
        moving: {
          extension: "ext.vm-packer",
          params: { host: "host-mv1", repository: { git: `file://${bare}`, ref: "main" } },
          // No pattern of its own: the extension's ref check is what refuses bad names.
          inputs: { ref: { title: "Git ref", param: "repository.ref" } },
          pool: POOL,
        },
      },
      config: { healthIntervalMs: 3_600_000, poolRefillMax: 2, poolRefillPerHost: 2, poolFailureCooldownMs: 500, createTimeoutMs: 60_000 },
    });
  }, 90_000);

  afterAll(async () => {
    try {
      await t?.close();
    } finally {
      await stopBuildVms(vms);
    }
  });

  it("claims a member and moves it to the ref: ready with exactly that ref's tree, nothing of the old one", async () => {
    await settle();
    const members = await pooled();
    // Leave something a build would: ignored and untracked files go too.
    for (const m of members) {
      await runAs(vm.user, ["sh", "-c", 'printf x > "$1/main.o" && printf y > "$1/src/scratch"', "sh", workspace(m.id)]);
    }
    const s = await t.manager.createSandbox("profile.moving", t.user, { ref: "feature" });
    expect(s.status).toBe("creating");
    expect(members.map((m) => m.id)).toContain(s.id);
    const row = await t.db.sandbox.findUniqueOrThrow({ where: { id: s.id } });
    expect(row.poolKey).toBeNull();
    expect(row.ownerId).toBe(t.user.kind === "user" ? t.user.userId : "");
    expect(row.params).toMatchObject({ repository: { ref: "feature" } });

    await t.newWorker().runUntilIdle(60_000);
    const ready = await t.manager.getSandbox(s.id);
    expect(ready.status, ready.statusReason ?? "").toBe("ready");
    expect(tree(workspace(s.id))).toEqual([".gitignore", "README", "lib/only-on-feature"]);
    expect(fs.readFileSync(path.join(workspace(s.id), "README"), "utf8")).toBe("feature\n");
    const head = await runAs(vm.user, ["git", "-C", workspace(s.id), "rev-parse", "--abbrev-ref", "HEAD"]);
    expect(head.stdout.trim()).toBe("feature");
    const log = (await t.manager.sandboxEvents(s.id)).map((e) => e.message).join("\n");
    const sinceClaim = log.slice(log.indexOf("Claimed from the warm pool"));
    expect(sinceClaim).toMatch(/Moving the clone to feature/);
    expect(sinceClaim).not.toMatch(/Cloning/);
    // The other member still holds main.
    expect(fs.readFileSync(path.join(workspace(members.find((m) => m.id !== s.id)!.id), "README"), "utf8")).toBe("main\n");

    await t.manager.destroySandbox(s.id, t.user);
    await settle();
    expect(fs.existsSync(workspace(s.id))).toBe(false);
  }, 120_000);

  it("a bad ref name is a field error naming the input, and claims nothing", async () => {
    const before = (await pooled()).map((m) => m.id);
    for (const ref of ["feature..x", "-upload-pack=evil", "a//b", "x.lock", "ref with space"]) {
      const err = await t.manager.createSandbox("profile.moving", t.user, { ref }).catch((e: unknown) => e);
      expect(err, ref).toBeInstanceOf(ValidationError);
      expect(Object.keys((err as ValidationError).fieldErrors), ref).toEqual(["ref"]);
    }
    expect((await pooled()).map((m) => m.id)).toEqual(before);
  });

  it("a ref the repository lacks fails with the reason, and the member's workspace is removed", async () => {
    await settle();
    const s = await t.manager.createSandbox("profile.moving", t.user, { ref: "no-such-branch" });
    expect(s.status).toBe("creating");
    await t.newWorker().runUntilIdle(60_000);
    const failed = await t.manager.getSandbox(s.id);
    expect(failed.status).toBe("failed");
    expect(failed.statusReason).toContain("has no branch or tag no-such-branch");
    const op = await t.db.operation.findFirstOrThrow({ where: { sandboxId: s.id, kind: "create" } });
    expect(op.errorCode).toBe("POOL_MOVE_TARGET_MISSING");
    expect(fs.existsSync(workspace(s.id))).toBe(false);
    await t.manager.destroySandbox(s.id, t.user);
    await settle();
  }, 120_000);

  it("a member whose move fails for another reason is removed and the sandbox cloned afresh", async () => {
    await settle();
    // Break every member's clone: the fetch fails ("not a git repository"), not for a missing ref.
    for (const m of await pooled()) fs.rmSync(path.join(workspace(m.id), ".git"), { recursive: true, force: true });
    const s = await t.manager.createSandbox("profile.moving", t.user, { ref: "feature" });
    expect(s.status).toBe("creating");
    await t.newWorker().runUntilIdle(60_000);
    const ready = await t.manager.getSandbox(s.id);
    expect(ready.status, ready.statusReason ?? "").toBe("ready");
    expect(tree(workspace(s.id))).toEqual([".gitignore", "README", "lib/only-on-feature"]);
    const log = (await t.manager.sandboxEvents(s.id)).map((e) => e.message).join("\n");
    const sinceClaim = log.slice(log.indexOf("Claimed from the warm pool"));
    expect(sinceClaim).toMatch(/Could not move the warm-pool member .*creating it afresh/);
    expect(sinceClaim).toMatch(/Cloning .* at feature/);
  }, 120_000);
});
