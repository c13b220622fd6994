// connect()/exec() against real OpenSSH sshd "build VMs" on loopback: host-key trust (pinned,
// known_hosts, hashed, unknown, changed after a rebuild), connection failures, exec semantics.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { AbortedError } from "@/lib/errors";
import { SshError, connect, type SshConfig, type SshConnection } from "@/lib/ssh";
import {
  authorizeKey,
  freeLoopbackPort,
  processRunning,
  restartVm,
  startBuildVms,
  startSilentTcpServer,
  stopBuildVms,
  vmSshConfig,
  type BuildVm,
  type BuildVms,
} from "@/tests/support/build-vms";

let vms: BuildVms;
let vm1: BuildVm;
let vm2: BuildVm;
let rebuilt: BuildVm;
let conn: SshConnection;
let scratch: string;

async function sshError(p: Promise<unknown>): Promise<SshError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof SshError) return e;
    throw e;
  }
  throw new Error("expected an SshError");
}

beforeAll(async () => {
  vms = await startBuildVms({
    vms: [
      { name: "vm1", address: "127.0.0.1" },
      { name: "vm2", address: "127.0.0.2" },
      { name: "rebuilt", address: "127.0.0.2" },
    ],
  });
  vm1 = vms.vm("vm1");
  vm2 = vms.vm("vm2");
  rebuilt = vms.vm("rebuilt");
  scratch = mkdtempSync(path.join(tmpdir(), "sbx-conn-it-"));
  conn = await connect(vmSshConfig(vms, vm1), { readyTimeoutMs: 5_000 });
});

afterAll(async () => {
  conn?.close();
  await stopBuildVms(vms);
  rmSync(scratch, { recursive: true, force: true });
});

describe("exec over a real connection", () => {
  it("returns stdout, stderr and the exit code (non-zero is a result, not an error)", async () => {
    const r = await conn.exec(["sh", "-c", "echo out; echo err >&2; exit 7"], { timeoutMs: 5_000 });
    expect(r).toMatchObject({ stdout: "out\n", stderr: "err\n", code: 7, signal: null });
    const who = await conn.exec(["id", "-un"], { timeoutMs: 5_000 });
    expect(who.stdout.trim()).toBe(vms.user);
  });

  it("echoes hostile argv back byte-exact through the remote login shell", async () => {
    const hostile = [
      "",
      " ",
      "a b",
      "it's",
      "''",
      '"',
      "$(id)",
      "`id`",
      "${HOME}",
      "\n",
      "line1\nline2",
      "\r",
      "\t",
      "; rm -rf /",
      "&&",
      "|",
      "*",
      "?",
      "[a]",
      "{a,b}",
      "~",
      "-n",
      "--",
      "a=b",
      "!",
      "#",
      "\\",
      "é✓😀",
      "\u001b[0m",
    ];
    const r = await conn.exec(["printf", "%s\\0", ...hostile], { timeoutMs: 5_000 });
    expect(r.code).toBe(0);
    expect(r.stdout.split("\0").slice(0, -1)).toEqual(hostile);
  });

  it("round-trips arbitrary argv through sshd and bash (property)", async () => {
    const arg = fc.oneof(fc.string({ unit: "binary", maxLength: 20 }), fc.string({ unit: fc.constantFrom(..."'\"\\$`;&|*?~ \n\t!#") }));
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          arg.filter((s) => !s.includes("\0")),
          { minLength: 1, maxLength: 5 },
        ),
        async (args) => {
          const r = await conn.exec(["printf", "%s\\0", ...args], { timeoutMs: 5_000 });
          expect(r.stdout.split("\0").slice(0, -1)).toEqual(args);
        },
      ),
      { numRuns: 40 },
    );
  });

  it("feeds stdin and closes it", async () => {
    expect((await conn.exec(["cat"], { timeoutMs: 5_000, stdin: "hello\nworld" })).stdout).toBe("hello\nworld");
    // Without stdin the command sees EOF instead of hanging.
    expect((await conn.exec(["cat"], { timeoutMs: 5_000 })).stdout).toBe("");
  });

  it("keeps only the last bytes of a chatty command", async () => {
    const r = await conn.exec(["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' a; echo END"], {
      timeoutMs: 10_000,
      maxBufferBytes: 100_000,
    });
    expect(r.stdoutTruncated).toBe(true);
    expect(r.stdout.length).toBe(100_000);
    expect(r.stdout.endsWith("aaaEND\n")).toBe(true);
  });

  it("streams output to callbacks", async () => {
    const chunks: string[] = [];
    await conn.exec(["sh", "-c", "echo one; echo two >&2"], {
      timeoutMs: 5_000,
      onStdout: (c) => chunks.push(`o:${c}`),
      onStderr: (c) => chunks.push(`e:${c}`),
    });
    expect(chunks.sort()).toEqual(["e:two\n", "o:one\n"]);
  });

  it("times out, kills the remote process and rejects with SSH_EXEC_TIMEOUT", async () => {
    const marker = `37.${Date.now() % 100000}`;
    const t0 = Date.now();
    const err = await sshError(conn.exec(["sleep", marker], { timeoutMs: 300 }));
    const elapsed = Date.now() - t0;
    expect(err.code).toBe("SSH_EXEC_TIMEOUT");
    expect(err.message).toContain(`${vm1.host}:${vm1.port}`);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(2_500);
    await expect.poll(() => processRunning(`sleep ${marker}`), { timeout: 3_000 }).toBe(false);
    // The connection is still usable.
    expect((await conn.exec(["true"], { timeoutMs: 5_000 })).code).toBe(0);
  });

  it("kills a process that ignores SIGTERM after the grace period", async () => {
    const marker = `38.${Date.now() % 100000}`;
    const t0 = Date.now();
    const err = await sshError(conn.exec(["sh", "-c", `trap '' TERM; sleep ${marker}`], { timeoutMs: 200, killGraceMs: 300 }));
    expect(err.code).toBe("SSH_EXEC_TIMEOUT");
    expect(Date.now() - t0).toBeLessThan(2_000);
    await expect.poll(() => processRunning(`sleep ${marker}`), { timeout: 3_000 }).toBe(false);
  });

  it("aborts with AbortedError and kills the remote process", async () => {
    const marker = `39.${Date.now() % 100000}`;
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const t0 = Date.now();
    await expect(conn.exec(["sleep", marker], { timeoutMs: 30_000, signal: ac.signal })).rejects.toBeInstanceOf(AbortedError);
    expect(Date.now() - t0).toBeLessThan(2_000);
    await expect.poll(() => processRunning(`sleep ${marker}`), { timeout: 3_000 }).toBe(false);
  });

  it("execChecked names the command, exit code and last stderr lines", async () => {
    const err = await sshError(conn.execChecked(["sh", "-c", "echo first >&2; echo 'the real reason' >&2; exit 3"], { timeoutMs: 5_000 }));
    expect(err.code).toBe("SSH_COMMAND_FAILED");
    expect(err.message).toContain("`sh`");
    expect(err.message).toContain("exit code 3");
    expect(err.message).toContain("the real reason");
    expect(err.message).toContain(`${vm1.host}:${vm1.port}`);
  });

  it("reports the verified host key", () => {
    expect(conn.hostKeyFingerprint).toBe(vm1.hostKeyFingerprint);
    expect(conn.hostKey.toString("base64")).toBe(vm1.hostPublicKeyLine.split(" ")[1]);
  });
});

describe("host key trust", () => {
  it("accepts a known_hosts entry and a hashed known_hosts entry", async () => {
    expect(readFileSync(vms.hashedKnownHostsPath, "utf8")).not.toContain(vm2.host);
    for (const trust of ["knownHosts", "hashedKnownHosts"] as const) {
      const c = await connect(vmSshConfig(vms, vm2, trust), { readyTimeoutMs: 5_000 });
      expect((await c.exec(["echo", trust], { timeoutMs: 5_000 })).stdout).toBe(`${trust}\n`);
      c.close();
    }
  });

  it("refuses a wrong pinned key, naming host:port and both fingerprints", async () => {
    const err = await sshError(
      connect({ ...vmSshConfig(vms, vm2), trust: { pinnedFingerprint: vm1.hostKeyFingerprint } }, { readyTimeoutMs: 5_000 }),
    );
    expect(err.code).toBe("SSH_HOST_KEY_CHANGED");
    expect(err.message).toContain(`${vm2.host}:${vm2.port}`);
    expect(err.message).toContain(vm1.hostKeyFingerprint);
    expect(err.message).toContain(vm2.hostKeyFingerprint);
  });

  it("refuses a host missing from known_hosts (empty file, or only other hosts' entries)", async () => {
    const empty = path.join(scratch, "empty_known_hosts");
    writeFileSync(empty, "");
    const e1 = await sshError(connect({ ...vmSshConfig(vms, vm1), trust: { knownHostsPath: empty } }, { readyTimeoutMs: 5_000 }));
    expect(e1.code).toBe("SSH_HOST_KEY_UNKNOWN");
    expect(e1.message).toContain(vm1.hostKeyFingerprint);
    const others = path.join(scratch, "others_known_hosts");
    // vm1's key, but for vm2's address:port: not a key for vm1's host:port.
    writeFileSync(others, `[${vm2.host}]:${vm2.port} ${vm1.hostPublicKeyLine}\n`);
    const e2 = await sshError(connect({ ...vmSshConfig(vms, vm1), trust: { knownHostsPath: others } }, { readyTimeoutMs: 5_000 }));
    expect(e2.code).toBe("SSH_HOST_KEY_UNKNOWN");
    const missing = await sshError(
      connect({ ...vmSshConfig(vms, vm1), trust: { knownHostsPath: path.join(scratch, "nope") } }, { readyTimeoutMs: 5_000 }),
    );
    expect(missing.code).toBe("SSH_HOST_KEY_UNKNOWN");
  });

  it("refuses a key marked @revoked", async () => {
    const file = path.join(scratch, "revoked_known_hosts");
    writeFileSync(file, `[${vm1.host}]:${vm1.port} ${vm1.hostPublicKeyLine}\n@revoked * ${vm1.hostPublicKeyLine}\n`);
    expect((await sshError(connect({ ...vmSshConfig(vms, vm1), trust: { knownHostsPath: file } }, { readyTimeoutMs: 5_000 }))).code).toBe(
      "SSH_HOST_KEY_REVOKED",
    );
  });

  it("refuses a VM rebuilt with a new host key (known_hosts and the old pin), accepts the new pin", async () => {
    const oldPin = rebuilt.hostKeyFingerprint;
    const before = await connect(vmSshConfig(vms, rebuilt, "knownHosts"), { readyTimeoutMs: 5_000 });
    before.close();
    await restartVm(rebuilt, { newHostKey: true });
    expect(rebuilt.hostKeyFingerprint).not.toBe(oldPin);
    for (const trust of ["knownHosts", "hashedKnownHosts"] as const) {
      const err = await sshError(connect(vmSshConfig(vms, rebuilt, trust), { readyTimeoutMs: 5_000 }));
      expect(err.code).toBe("SSH_HOST_KEY_CHANGED");
      expect(err.message).toContain(`${rebuilt.host}:${rebuilt.port}`);
      expect(err.message).toContain(oldPin);
      expect(err.message).toContain(rebuilt.hostKeyFingerprint);
    }
    const pinErr = await sshError(
      connect({ ...vmSshConfig(vms, rebuilt), trust: { pinnedFingerprint: oldPin } }, { readyTimeoutMs: 5_000 }),
    );
    expect(pinErr.code).toBe("SSH_HOST_KEY_CHANGED");
    const after = await connect(vmSshConfig(vms, rebuilt), { readyTimeoutMs: 5_000 });
    expect((await after.exec(["true"], { timeoutMs: 5_000 })).code).toBe(0);
    after.close();
  });
});

describe("connection failures", () => {
  it("reports a port with nothing listening as SSH_CONNECT_REFUSED, quickly", async () => {
    const port = await freeLoopbackPort("127.0.0.2");
    const t0 = Date.now();
    // A long readyTimeout: a refusal answers at once, never by waiting that out.
    const err = await sshError(connect({ ...vmSshConfig(vms, vm2), port }, { readyTimeoutMs: 20_000 }));
    expect(err.code).toBe("SSH_CONNECT_REFUSED");
    expect(err.message).toContain(`127.0.0.2:${port}`);
    expect(err.message).toMatch(/nothing is listening/);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  it("reports a host that accepts TCP but never speaks as SSH_CONNECT_TIMEOUT within readyTimeout", async () => {
    const silent = await startSilentTcpServer("127.0.0.1");
    try {
      const t0 = Date.now();
      const err = await sshError(connect({ ...vmSshConfig(vms, vm1), port: silent.port }, { readyTimeoutMs: 700 }));
      const elapsed = Date.now() - t0;
      expect(err.code).toBe("SSH_CONNECT_TIMEOUT");
      expect(err.message).toContain(`127.0.0.1:${silent.port}`);
      // Not before the readyTimeout, and long before the 20 s default (with room for a loaded machine).
      expect(elapsed).toBeGreaterThanOrEqual(650);
      expect(elapsed).toBeLessThan(5_000);
    } finally {
      await silent.close();
    }
  });

  it("reports a key the VM does not accept as SSH_AUTH_FAILED", async () => {
    const key = path.join(scratch, "stranger");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
    const err = await sshError(connect({ ...vmSshConfig(vms, vm1), identity: { privateKeyPath: key } }, { readyTimeoutMs: 5_000 }));
    expect(err.code).toBe("SSH_AUTH_FAILED");
    expect(err.message).toContain(`${vm1.host}:${vm1.port}`);
    expect(err.message).toContain(key);
    expect(err.message).not.toContain(readFileSync(key, "utf8").split("\n")[1]!);
  });

  it("reports a user sshd does not allow as SSH_AUTH_FAILED", async () => {
    expect((await sshError(connect({ ...vmSshConfig(vms, vm1), user: "nobody" }, { readyTimeoutMs: 5_000 }))).code).toBe("SSH_AUTH_FAILED");
  });

  it("can be aborted while the handshake hangs", async () => {
    const silent = await startSilentTcpServer("127.0.0.1");
    try {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 100);
      const t0 = Date.now();
      await expect(
        connect({ ...vmSshConfig(vms, vm1), port: silent.port }, { readyTimeoutMs: 20_000, signal: ac.signal }),
      ).rejects.toBeInstanceOf(AbortedError);
      // The abort ends it, not the (much longer) readyTimeout.
      expect(Date.now() - t0).toBeLessThan(5_000);
    } finally {
      await silent.close();
    }
  });

  it("fails in-flight commands with SSH_DISCONNECTED when the VM goes away", async () => {
    const c = await connect(vmSshConfig(vms, rebuilt), { readyTimeoutMs: 5_000 });
    const running = sshError(c.exec(["sleep", "30"], { timeoutMs: 20_000 }));
    await new Promise((r) => setTimeout(r, 100));
    await restartVm(rebuilt);
    expect((await running).code).toBe("SSH_DISCONNECTED");
    expect(c.alive).toBe(false);
  });
});

describe("identities", () => {
  let agent: ChildProcess | undefined;
  afterAll(() => {
    if (agent?.pid) process.kill(agent.pid, "SIGTERM");
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("uses a passphrase-protected key through passphraseEnv", async () => {
    const key = path.join(scratch, "encrypted");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "s3cret pass", "-C", "encrypted", "-f", key]);
    await authorizeKey(vms, readFileSync(`${key}.pub`, "utf8"));
    vi.stubEnv("SBX_IT_KEY_PASSPHRASE", "s3cret pass");
    const c = await connect(
      { ...vmSshConfig(vms, vm1), identity: { privateKeyPath: key, passphraseEnv: "SBX_IT_KEY_PASSPHRASE" } },
      { readyTimeoutMs: 5_000 },
    );
    expect((await c.exec(["true"], { timeoutMs: 5_000 })).code).toBe(0);
    c.close();
  });

  it("uses an ssh-agent", async () => {
    const sock = path.join(scratch, "agent.sock");
    agent = spawn("ssh-agent", ["-D", "-a", sock], { stdio: "ignore" });
    await expect.poll(() => existsSync(sock), { timeout: 5_000 }).toBe(true);
    execFileSync("ssh-add", [vms.identityFile], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: "ignore" });
    const config: SshConfig = { ...vmSshConfig(vms, vm2), identity: { agent: true, agentSocket: sock } };
    const c = await connect(config, { readyTimeoutMs: 5_000 });
    expect((await c.exec(["echo", "via agent"], { timeoutMs: 5_000 })).stdout).toBe("via agent\n");
    c.close();
  });
});

describe("latency on loopback", () => {
  it("connect and exec stay in the expected range", async () => {
    const connects: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const c = await connect(vmSshConfig(vms, vm1), { readyTimeoutMs: 5_000 });
      connects.push(performance.now() - t0);
      c.close();
    }
    const execs: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      await conn.exec(["true"], { timeoutMs: 5_000 });
      execs.push(performance.now() - t0);
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.info(
      `[ssh latency] connect median ${median(connects).toFixed(1)} ms, exec on open connection median ${median(execs).toFixed(1)} ms`,
    );
    // Generous bounds: this catches Nagle (+40 ms per round trip) or a per-exec handshake, not noise.
    expect(median(connects)).toBeLessThan(1_000);
    expect(median(execs)).toBeLessThan(200);
  });
});
