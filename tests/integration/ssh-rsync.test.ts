// rsyncToRemote with the system rsync and OpenSSH client against real sshd: byte-identical trees,
// paths with spaces, progress, filters, host-key refusal by rsync's own ssh, timeout/abort cleanup,
// and concurrent transfers under the VM's default MaxStartups.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { AbortedError } from "@/lib/errors";
import { SshError, SshPool, createRemoteWorkspace, rsyncToRemote, type SshConfig } from "@/lib/ssh";
import {
  authorizeKey,
  processRunning,
  runAs,
  startBuildVms,
  stopBuildVms,
  vmSshConfig,
  type BuildVm,
  type BuildVms,
} from "@/tests/support/build-vms";

let vms: BuildVms;
let vm1: BuildVm;
let vm2: BuildVm;
let pool: SshPool;
let scratch: string;
let bigTree: string;
let agent: ChildProcess | undefined;
let idCounter = 0;

function newId(): string {
  idCounter++;
  return `rsync${String(idCounter).padStart(4, "0")}${Math.random()
    .toString(36)
    .slice(2, 6)
    .replace(/[^a-z0-9]/g, "a")}`;
}

/** relative path -> sha256 for every regular file under dir. */
function treeDigest(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.set(path.relative(dir, p), createHash("sha256").update(readFileSync(p)).digest("hex"));
    }
  };
  walk(dir);
  return out;
}

function makeTree(dir: string, files: number, perDir: number): number {
  let bytes = 0;
  for (let i = 0; i < files; i++) {
    const sub = path.join(dir, `dir ${String(Math.floor(i / perDir)).padStart(2, "0")}`);
    mkdirSync(sub, { recursive: true });
    const size = 1_000 + ((i * 7919) % 3_400);
    bytes += size;
    writeFileSync(path.join(sub, i % 50 === 0 ? `fïle ${i} 'q'.bin` : `f${i}.bin`), randomBytes(size));
  }
  return bytes;
}

/** OpenSSH master processes (rsync multiplexing) connected to a VM's port. */
function mastersOf(vm: BuildVm): string[][] {
  return readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .map((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      } catch {
        return [];
      }
    })
    .filter((argv) => argv.includes("ControlMaster=yes") && argv.includes(String(vm.port)));
}

async function workspace(vm: BuildVm): Promise<string> {
  return (await createRemoteWorkspace(pool, vmSshConfig(vms, vm), vm.workspaceRoot, newId(), { timeoutMs: 10_000 })).path;
}

beforeAll(async () => {
  vms = await startBuildVms({
    vms: [
      { name: "vm1", address: "127.0.0.1" },
      { name: "vm2", address: "127.0.0.2" },
    ],
  });
  vm1 = vms.vm("vm1");
  vm2 = vms.vm("vm2");
  pool = new SshPool();
  scratch = mkdtempSync(path.join(tmpdir(), "sbx-rsync-it-"));
  bigTree = path.join(scratch, "source tree");
  makeTree(bigTree, 2_000, 100);
});

afterAll(async () => {
  if (agent?.pid) process.kill(agent.pid, "SIGTERM");
  pool?.close();
  await stopBuildVms(vms);
  rmSync(scratch, { recursive: true, force: true });
});

describe("rsyncToRemote", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("copies a 2,000-file tree byte-identical into a destination with a space, with batched progress", async () => {
    const ws = await workspace(vm1);
    const destination = `${ws}/check out`;
    const lines: string[] = [];
    const t0 = performance.now();
    const result = await rsyncToRemote({
      config: vmSshConfig(vms, vm1),
      pool,
      source: bigTree,
      destination,
      timeoutMs: 60_000,
      onProgress: (l) => lines.push(l),
      progressIntervalMs: 200,
    });
    const elapsed = performance.now() - t0;
    console.info(
      `[rsync] 2,000 files (${(result.totalBytes / 1e6).toFixed(1)} MB) in ${elapsed.toFixed(0)} ms, ${lines.length} progress lines`,
    );
    expect(result.filesTransferred).toBe(2_000);
    expect(result.totalBytes).toBeGreaterThan(5_000_000);
    expect(treeDigest(destination)).toEqual(treeDigest(bigTree));
    // Owned by the VM user, like a real checkout.
    expect(statSync(path.join(destination, "dir 00", "f1.bin")).uid).toBe(statSync(ws).uid);
    // Batched: a handful of lines, not one per file; the last is the summary.
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.length).toBeLessThanOrEqual(Math.ceil(elapsed / 200) + 3);
    expect(lines.at(-1)).toMatch(/done, \d+ files \(2000 transferred\), \d+ bytes/);

    // A second run has nothing to transfer.
    const again = await rsyncToRemote({
      config: vmSshConfig(vms, vm1),
      pool,
      source: bigTree,
      destination,
      timeoutMs: 60_000,
    });
    expect(again.filesTransferred).toBe(0);
  });

  it("works with a key and a temp dir whose paths contain spaces and quotes", async () => {
    const keyDir = path.join(scratch, "key dir 'x'");
    mkdirSync(keyDir);
    const key = path.join(keyDir, "id ed25519");
    copyFileSync(vms.identityFile, key);
    chmodSync(key, 0o600);
    const tempDir = path.join(scratch, "tmp dir 'q'");
    mkdirSync(tempDir);
    const src = path.join(scratch, "small src");
    makeTree(src, 5, 5);
    const ws = await workspace(vm2);
    await rsyncToRemote({
      config: { ...vmSshConfig(vms, vm2), identity: { privateKeyPath: key } },
      pool,
      source: src,
      destination: ws,
      timeoutMs: 30_000,
      tempDir,
    });
    expect(treeDigest(ws)).toEqual(treeDigest(src));
    expect(readdirSync(tempDir)).toEqual([]); // the temporary known_hosts is gone
  });

  it("applies excludes, .gitignore filters and --delete", async () => {
    const src = path.join(scratch, "filtered");
    mkdirSync(path.join(src, "build"), { recursive: true });
    mkdirSync(path.join(src, "lib"), { recursive: true });
    writeFileSync(path.join(src, ".gitignore"), "*.log\nbuild/\n");
    writeFileSync(path.join(src, "keep.txt"), "keep");
    writeFileSync(path.join(src, "debug.log"), "ignored by .gitignore");
    writeFileSync(path.join(src, "build", "out.o"), "ignored dir");
    writeFileSync(path.join(src, "lib", "code.ts"), "code");
    writeFileSync(path.join(src, "secret.env"), "excluded");
    const ws = await workspace(vm1);
    writeFileSync(path.join(ws, "stale.txt"), "from an earlier sync");
    await rsyncToRemote({
      config: vmSshConfig(vms, vm1),
      pool,
      source: src,
      destination: ws,
      excludes: ["*.env"],
      filterGitignore: true,
      deleteExtraneous: true,
      timeoutMs: 30_000,
    });
    expect([...treeDigest(ws).keys()].sort()).toEqual([".gitignore", "keep.txt", path.join("lib", "code.ts")]);
  });

  it("multiplexes later rsyncs over one verified master connection: no new SSH handshake each time", async () => {
    const accepted = () =>
      readFileSync(vm2.logPath, "utf8")
        .split("\n")
        .filter((l) => l.includes("Accepted publickey")).length;
    // Masters are told apart by their argv (each has its own ControlPath).
    const masters = () => mastersOf(vm2).map((argv) => argv.join(" "));
    const othersBefore = new Set(masters());
    let mine: string[] = [];
    let others: string[] = [];
    const muxPool = new SshPool();
    try {
      const src = path.join(scratch, "mux");
      makeTree(src, 20, 5);
      const ws = (await createRemoteWorkspace(muxPool, vmSshConfig(vms, vm2), vm2.workspaceRoot, newId(), { timeoutMs: 10_000 })).path;
      const sync = (dest: string, multiplex?: boolean) =>
        rsyncToRemote({
          config: vmSshConfig(vms, vm2),
          pool: muxPool,
          source: src,
          destination: `${ws}/${dest}`,
          timeoutMs: 30_000,
          multiplex,
        });
      await sync("first"); // starts the master (one handshake)
      mine = masters().filter((m) => !othersBefore.has(m));
      expect(mine).toHaveLength(1);
      const before = accepted();
      await sync("second");
      await sync("third");
      expect(accepted()).toBe(before);
      expect(treeDigest(`${ws}/third`)).toEqual(treeDigest(src));
      // Without multiplexing, every rsync authenticates anew.
      await sync("direct", false);
      expect(accepted()).toBe(before + 1);
    } finally {
      others = masters().filter((m) => !mine.includes(m));
      muxPool.close();
    }
    // Closing the pool stops its master, and only its own (other pools of this file keep theirs).
    await vi.waitFor(() => expect(masters().filter((m) => mine.includes(m))).toEqual([]), { timeout: 10_000, interval: 25 });
    expect(masters().filter((m) => others.includes(m))).toEqual(others);
  });

  it("is refused by rsync's own ssh when the host key is not the verified one (no auto-accept)", async () => {
    const ws = await workspace(vm1);
    const src = path.join(scratch, "refused");
    makeTree(src, 3, 3);
    const vm2Key = Buffer.from(vm2.hostPublicKeyLine.split(" ")[1]!, "base64");
    const err = (await rsyncToRemote({
      config: vmSshConfig(vms, vm1),
      pool,
      source: src,
      destination: `${ws}/never`,
      timeoutMs: 30_000,
      hostKey: vm2Key,
    }).catch((e: unknown) => e)) as SshError;
    expect(err).toBeInstanceOf(SshError);
    expect(err.code).toBe("RSYNC_FAILED");
    // 255 is ssh's exit status; when rsync sees the closed pipe before it reaps ssh it reports 12.
    expect([255, 12], err.message).toContain(err.details?.exitCode);
    expect(err.message).toMatch(/Host key verification failed/);
    expect(err.message).toMatch(/not the verified one/);
    expect(existsSync(`${ws}/never`)).toBe(false);
  });

  it("refuses before starting rsync when the pinned key does not match", async () => {
    const ws = await workspace(vm2);
    const err = (await rsyncToRemote({
      config: { ...vmSshConfig(vms, vm2), trust: { pinnedFingerprint: vm1.hostKeyFingerprint } },
      pool,
      source: bigTree,
      destination: ws,
      timeoutMs: 30_000,
    }).catch((e: unknown) => e)) as SshError;
    expect(err.code).toBe("SSH_HOST_KEY_CHANGED");
    expect(readdirSync(ws)).toEqual([]);
  });

  it("fails with RSYNC_FAILED and the reason when the destination cannot be written", async () => {
    const err = (await rsyncToRemote({
      config: vmSshConfig(vms, vm1),
      pool,
      source: path.join(scratch, "refused"),
      destination: "/root/not-allowed/x",
      timeoutMs: 30_000,
    }).catch((e: unknown) => e)) as SshError;
    expect(err.code).toBe("RSYNC_FAILED");
    // rsync exits 3 for a destination it cannot create. Its explanation comes from the remote
    // rsync and, when the two ends race to shut down, is sometimes never read; the meaning of the
    // exit code is always in the message.
    expect(err.details?.exitCode).toBe(3);
    expect(err.message).toContain("errors selecting input/output files or directories");
  });

  it.each([
    ["timeout", "SSH_EXEC_TIMEOUT"],
    ["abort", "ABORTED"],
  ])("stops rsync and ssh on %s and removes the temporary known_hosts", async (how, code) => {
    const ws = await workspace(vm2);
    const tempDir = path.join(scratch, `stop-${how}`);
    mkdirSync(tempDir);
    const ac = new AbortController();
    if (how === "abort") setTimeout(() => ac.abort(), 250);
    const t0 = Date.now();
    const err = (await rsyncToRemote({
      config: vmSshConfig(vms, vm2),
      pool,
      source: bigTree,
      destination: ws,
      timeoutMs: how === "timeout" ? 250 : 60_000,
      signal: ac.signal,
      tempDir,
      // A direct connection (with its handshake) keeps the transfer running long enough to stop it
      // mid-way; over a warm master this small tree can finish within 250 ms.
      multiplex: false,
    }).catch((e: unknown) => e)) as SshError;
    expect(err.code).toBe(code);
    if (how === "abort") expect(err).toBeInstanceOf(AbortedError);
    expect(Date.now() - t0).toBeLessThan(4_000);
    expect(readdirSync(tempDir)).toEqual([]);
    expect(await processRunning(tempDir)).toBe(false);
  });

  it("keeps 15 concurrent transfers to one VM within the handshake bound (default MaxStartups)", async () => {
    const src = path.join(scratch, "burst");
    makeTree(src, 20, 20);
    const burstPool = new SshPool();
    try {
      const config = vmSshConfig(vms, vm1);
      const dests = await Promise.all(Array.from({ length: 15 }, () => workspace(vm1)));
      await Promise.all(
        dests.map((destination) => rsyncToRemote({ config, pool: burstPool, source: src, destination, timeoutMs: 60_000 })),
      );
      for (const d of dests) expect(treeDigest(d)).toEqual(treeDigest(src));
      expect(burstPool.stats().hosts[`${vm1.host}:${vm1.port}`]!.peakHandshakes).toBeLessThanOrEqual(3);
    } finally {
      burstPool.close();
    }
  });

  it("authenticates through ssh-agent (SSH_AUTH_SOCK passed through)", async () => {
    const sock = path.join(scratch, "agent.sock");
    agent = spawn("ssh-agent", ["-D", "-a", sock], { stdio: "ignore" });
    await expect.poll(() => existsSync(sock), { timeout: 5_000, interval: 20 }).toBe(true);
    execFileSync("ssh-add", [vms.identityFile], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: "ignore" });
    const config: SshConfig = { ...vmSshConfig(vms, vm2), identity: { agent: true, agentSocket: sock } };
    const src = path.join(scratch, "agent src");
    makeTree(src, 4, 4);
    const ws = await workspace(vm2);
    await rsyncToRemote({ config, pool, source: src, destination: ws, timeoutMs: 30_000 });
    expect(treeDigest(ws)).toEqual(treeDigest(src));
  });

  it("uses a passphrase-protected key through passphraseEnv", async () => {
    const key = path.join(scratch, "encrypted key");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "pass phrase 'x'", "-C", "rsync-encrypted", "-f", key]);
    await authorizeKey(vms, readFileSync(`${key}.pub`, "utf8"));
    vi.stubEnv("SBX_IT_RSYNC_PASSPHRASE", "pass phrase 'x'");
    const config: SshConfig = {
      ...vmSshConfig(vms, vm1),
      identity: { privateKeyPath: key, passphraseEnv: "SBX_IT_RSYNC_PASSPHRASE" },
    };
    const src = path.join(scratch, "pass src");
    makeTree(src, 4, 4);
    const ws = await workspace(vm1);
    await rsyncToRemote({ config, pool, source: src, destination: ws, timeoutMs: 30_000 });
    expect(treeDigest(ws)).toEqual(treeDigest(src));
    // The files really belong to the VM user (written through sshd, not by this root process).
    const owner = await runAs(vms.user, ["stat", "-c", "%U", path.join(ws, "dir 00")]);
    expect(owner.stdout.trim()).toBe(vms.user);
  });
});
