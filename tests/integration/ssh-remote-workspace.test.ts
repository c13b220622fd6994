// Workspace create/remove/list/free-space over real sshd as the unprivileged VM user: the teardown
// safety rules (symlinks refused, nothing outside the workspace touched, leftovers reported and
// retryable) checked against a real file system with real ownership.
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  statfsSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ValidationError } from "@/lib/errors";
import {
  SshError,
  SshPool,
  createRemoteWorkspace,
  listRemoteWorkspaces,
  remoteFreeSpace,
  remoteWorkspaceExists,
  remoteWorkspaceState,
  removeRemoteWorkspace,
  type SshConfig,
} from "@/lib/ssh";
import { plantSymlink, runAs, startBuildVms, stopBuildVms, vmSshConfig, type BuildVm, type BuildVms } from "@/tests/support/build-vms";

let vms: BuildVms;
let vm: BuildVm;
let config: SshConfig;
let pool: SshPool;
let root: string;
let uid: number;
let n = 0;

function id(): string {
  n++;
  return `ws${String(n).padStart(3, "0")}${Date.now().toString(36)}`.slice(0, 20).replace(/[^a-z0-9]/g, "a");
}

async function asUser(...argv: string[]): Promise<void> {
  const r = await runAs(vms.user, argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
}

async function rejection(p: Promise<unknown>): Promise<SshError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  if (!(e instanceof SshError)) throw new Error(`expected an SshError, got ${String(e)}`);
  return e;
}

beforeAll(async () => {
  vms = await startBuildVms({ vms: [{ name: "vm1", address: "127.0.0.2" }] });
  vm = vms.vm("vm1");
  config = vmSshConfig(vms, vm);
  pool = new SshPool();
  root = vm.workspaceRoot;
  uid = statSync(root).uid;
});

afterAll(async () => {
  pool?.close();
  await stopBuildVms(vms);
});

describe("create, inspect, list", () => {
  it("creates a 0700 workspace owned by the VM user and finds it", async () => {
    const wsId = id();
    const { path: ws, result } = await createRemoteWorkspace(pool, config, root, wsId);
    expect(result).toBe("created");
    expect(ws).toBe(`${root}/sbx-${wsId}`);
    const st = statSync(ws);
    expect(st.isDirectory()).toBe(true);
    expect(st.uid).toBe(uid);
    expect(st.mode & 0o777).toBe(0o700);
    expect(await remoteWorkspaceExists(pool, config, root, wsId)).toBe(true);
    expect(await remoteWorkspaceExists(pool, config, root, id())).toBe(false);
    expect(await listRemoteWorkspaces(pool, config, root)).toContain(`sbx-${wsId}`);
  });

  it("lists only real sbx-<id> directories", async () => {
    const listRoot = path.join(vm.dir, "list-root");
    mkdirSync(listRoot);
    chownSync(listRoot, uid, uid);
    const a = id();
    const b = id();
    await createRemoteWorkspace(pool, config, listRoot, a);
    await createRemoteWorkspace(pool, config, listRoot, b);
    await asUser("mkdir", path.join(listRoot, "not-a-workspace"), path.join(listRoot, "sbx-BAD"));
    await asUser("touch", path.join(listRoot, "sbx-afileonly"));
    await plantSymlink(path.join(listRoot, `sbx-${a}`), path.join(listRoot, "sbx-alinkonly"));
    expect(await listRemoteWorkspaces(pool, config, listRoot)).toEqual([`sbx-${a}`, `sbx-${b}`].sort());
    expect(await remoteWorkspaceState(pool, config, listRoot, "alinkonly")).toBe("symlink");
    expect(await remoteWorkspaceState(pool, config, listRoot, "afileonly")).toBe("other");
  });

  it("reports the free space of the root's file system", async () => {
    const bytes = await remoteFreeSpace(pool, config, root);
    const fs = statfsSync(root);
    const local = fs.bavail * fs.bsize;
    expect(bytes).toBeGreaterThan(0);
    expect(Math.abs(bytes - local)).toBeLessThan(512 * 1024 * 1024);
  });

  it("reuses an empty leftover of ours, refuses one with content or another owner", async () => {
    const wsId = id();
    const ws = (await createRemoteWorkspace(pool, config, root, wsId)).path;
    expect((await createRemoteWorkspace(pool, config, root, wsId)).result).toBe("reused");
    await asUser("touch", path.join(ws, "work"));
    const e1 = await rejection(createRemoteWorkspace(pool, config, root, wsId));
    expect(e1.code).toBe("SSH_WORKSPACE_EXISTS");
    expect(e1.message).toContain(ws);
    const foreign = id();
    mkdirSync(path.join(root, `sbx-${foreign}`)); // empty, but root's
    expect((await rejection(createRemoteWorkspace(pool, config, root, foreign))).code).toBe("SSH_WORKSPACE_EXISTS");
  });

  it("refuses a missing or unwritable root, naming it", async () => {
    const missing = path.join(vm.dir, "no-such-root");
    const e1 = await rejection(createRemoteWorkspace(pool, config, missing, id()));
    expect(e1.code).toBe("SSH_WORKSPACE_ROOT_INVALID");
    expect(e1.message).toContain(missing);
    expect(e1.message).toContain(`${vm.host}:${vm.port}`);
    const readOnly = path.join(vm.dir, "read-only-root");
    mkdirSync(readOnly, { mode: 0o755 }); // owned by root: the VM user cannot write
    const e2 = await rejection(createRemoteWorkspace(pool, config, readOnly, id()));
    expect(e2.code).toBe("SSH_WORKSPACE_ROOT_INVALID");
    expect(e2.message).toMatch(/not writable/);
  });

  it("treats a root with spaces and shell metacharacters as a plain path", async () => {
    const odd = path.join(vm.dir, "odd root $(touch PWNED) 'x' `y`");
    mkdirSync(odd);
    chownSync(odd, uid, uid);
    const wsId = id();
    await createRemoteWorkspace(pool, config, odd, wsId);
    expect(existsSync(path.join(odd, `sbx-${wsId}`))).toBe(true);
    expect((await removeRemoteWorkspace(pool, config, odd, wsId)).result).toBe("removed");
    expect(existsSync(path.join(vm.dir, "PWNED"))).toBe(false);
    expect(existsSync(path.join("/home", vms.user, "PWNED"))).toBe(false);
  });
});

describe("remove", () => {
  it("removes the workspace and reports a second removal as absent", async () => {
    const wsId = id();
    const ws = (await createRemoteWorkspace(pool, config, root, wsId)).path;
    await asUser("mkdir", "-p", path.join(ws, "a/b/c"));
    await asUser("sh", "-c", 'echo data > "$1/a/b/c/file"; chmod 000 "$1/a/b/c/file"; chmod 500 "$1/a/b"', "sh", ws);
    await asUser("ln", "-s", "/etc/passwd", path.join(ws, "link"));
    expect(await removeRemoteWorkspace(pool, config, root, wsId)).toEqual({ result: "removed", path: ws });
    expect(existsSync(ws)).toBe(false);
    expect(existsSync("/etc/passwd")).toBe(true);
    expect((await removeRemoteWorkspace(pool, config, root, wsId)).result).toBe("absent");
  });

  it("leaves sibling workspaces and files next to the workspace untouched", async () => {
    const wsId = id();
    const sibling = id();
    await createRemoteWorkspace(pool, config, root, wsId);
    const sib = (await createRemoteWorkspace(pool, config, root, sibling)).path;
    await asUser("sh", "-c", 'echo keep > "$1/keep"', "sh", sib);
    await asUser("sh", "-c", 'echo neighbour > "$1"', "sh", path.join(root, `sbx-${wsId}.tar`));
    await asUser("sh", "-c", 'echo notes > "$1"', "sh", path.join(root, "notes.txt"));
    await removeRemoteWorkspace(pool, config, root, wsId);
    expect(readFileSync(path.join(sib, "keep"), "utf8")).toBe("keep\n");
    expect(readFileSync(path.join(root, `sbx-${wsId}.tar`), "utf8")).toBe("neighbour\n");
    expect(readFileSync(path.join(root, "notes.txt"), "utf8")).toBe("notes\n");
    expect(existsSync(root)).toBe(true);
  });

  it("refuses a symlink planted at <root>/sbx-<id>; the link and its target's canary survive", async () => {
    const wsId = id();
    const victim = path.join(vm.dir, "victim");
    mkdirSync(victim);
    chownSync(victim, uid, uid); // the VM user could delete it, if we followed the link
    await asUser("sh", "-c", 'echo alive > "$1/canary"', "sh", victim);
    const link = path.join(root, `sbx-${wsId}`);
    await plantSymlink(victim, link);
    const err = await rejection(removeRemoteWorkspace(pool, config, root, wsId));
    expect(err.code).toBe("SSH_WORKSPACE_UNSAFE");
    expect(err.message).toContain(link);
    expect(err.message).toMatch(/symlink/);
    expect(readFileSync(path.join(victim, "canary"), "utf8")).toBe("alive\n");
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe(victim);
    expect(await remoteWorkspaceExists(pool, config, root, wsId)).toBe(false);
    expect((await rejection(createRemoteWorkspace(pool, config, root, wsId))).code).toBe("SSH_WORKSPACE_UNSAFE");
  });

  it("refuses a file at <root>/sbx-<id>", async () => {
    const wsId = id();
    await asUser("sh", "-c", 'echo file > "$1"', "sh", path.join(root, `sbx-${wsId}`));
    expect((await rejection(removeRemoteWorkspace(pool, config, root, wsId))).code).toBe("SSH_WORKSPACE_UNSAFE");
    expect(readFileSync(path.join(root, `sbx-${wsId}`), "utf8")).toBe("file\n");
  });

  it("reports files it cannot delete by path, removes the rest, and succeeds on retry once fixed", async () => {
    const wsId = id();
    const ws = (await createRemoteWorkspace(pool, config, root, wsId)).path;
    await asUser("sh", "-c", 'mkdir "$1/src" && echo code > "$1/src/main.c"', "sh", ws);
    // A root-owned, non-empty directory inside the workspace, as a container running as root leaves.
    const stuck = path.join(ws, "root-owned");
    mkdirSync(stuck, { mode: 0o755 });
    chmodSync(stuck, 0o755);
    writeFileSync(path.join(stuck, "artifact"), "x");
    const err = await rejection(removeRemoteWorkspace(pool, config, root, wsId));
    expect(err.code).toBe("SSH_WORKSPACE_REMOVE_INCOMPLETE");
    expect(err.message).toContain(stuck);
    expect(err.details?.remaining).toEqual(expect.arrayContaining([ws, stuck, path.join(stuck, "artifact")]));
    expect(existsSync(path.join(ws, "src"))).toBe(false); // what could go, went
    expect(existsSync(path.join(stuck, "artifact"))).toBe(true);
    // An admin fixes ownership on the VM; the same call now completes.
    chownSync(stuck, uid, uid);
    chownSync(path.join(stuck, "artifact"), uid, uid);
    expect((await removeRemoteWorkspace(pool, config, root, wsId)).result).toBe("removed");
    expect(existsSync(ws)).toBe(false);
  });

  it("treats a missing root as already gone, and validates before connecting", async () => {
    expect((await removeRemoteWorkspace(pool, config, path.join(vm.dir, "gone"), id())).result).toBe("absent");
    await expect(removeRemoteWorkspace(pool, config, "/", id())).rejects.toBeInstanceOf(ValidationError);
    await expect(removeRemoteWorkspace(pool, config, root, "../../etc")).rejects.toBeInstanceOf(ValidationError);
  });

  it("never follows a workspace root that is a symlink to / ", async () => {
    const slashLink = path.join(vm.dir, "slash-link");
    await plantSymlink("/", slashLink);
    const err = await rejection(removeRemoteWorkspace(pool, config, slashLink, id()));
    expect(err.code).toBe("SSH_WORKSPACE_ROOT_INVALID");
    expect(err.message).toMatch(/resolves to \//);
    rmSync(slashLink);
  });
});
