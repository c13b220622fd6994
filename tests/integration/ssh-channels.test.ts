// The held-open channel primitives of lib/ssh against real sshd: a shell under a pty (window changes
// reach it), raw commands with exit codes and signals, binary-safe stdin/stdout, the sftp subsystem,
// direct-tcpip to the VM's loopback (and a clear error for a closed port), all over the pool's
// separate sessions budget while commands keep running.
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

import type { ClientChannel } from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { SshPool, exitOf, isSshError, shellCommand, type SshConfig } from "@/lib/ssh";
import { freeLoopbackPort, startBuildVms, stopBuildVms, vmSshConfig, type BuildVms } from "@/tests/support/build-vms";

let vms: BuildVms;
let cfg: SshConfig;
/** The harness's default VM: AllowTcpForwarding no, as the hardened default. */
let noForwarding: SshConfig;
let pool: SshPool;

beforeAll(async () => {
  vms = await startBuildVms({
    vms: [
      { name: "vm1", address: "127.0.0.1", sshdOptions: { AllowTcpForwarding: "local" } },
      { name: "closed", address: "127.0.0.2" },
    ],
  });
  cfg = vmSshConfig(vms, vms.vm("vm1"));
  noForwarding = vmSshConfig(vms, vms.vm("closed"));
  pool = new SshPool({ readyTimeoutMs: 10_000 });
});

afterAll(async () => {
  pool?.close();
  await stopBuildVms(vms);
});

/** Collects a channel's stdout until it closes; resolves with output, exit code and signal. */
function finish(ch: ClientChannel): Promise<{ out: Buffer; err: string; code: number | null; signal: string | null }> {
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    ch.on("data", (d: Buffer) => out.push(d));
    ch.stderr.on("data", (d: Buffer) => err.push(d));
    ch.on("close", () => {
      const exit = exitOf(ch);
      resolve({ out: Buffer.concat(out), err: Buffer.concat(err).toString(), code: exit?.code ?? null, signal: exit?.signal ?? null });
    });
  });
}

/** Resolves once the channel's output (so far) matches. */
function waitForOutput(ch: ClientChannel, re: RegExp, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`no ${re} in ${JSON.stringify(text)}`)), timeoutMs);
    const onData = (d: Buffer): void => {
      text += d.toString();
      if (re.test(text)) {
        clearTimeout(timer);
        ch.off("data", onData);
        resolve(text);
      }
    };
    ch.on("data", onData);
  });
}

describe("held-open channels over the pool", () => {
  it("runs a login shell under a pty that follows window changes", async () => {
    const ch = await pool.openChannel(cfg, { type: "session", pty: { term: "xterm-256color", rows: 30, cols: 100 } });
    const done = finish(ch);
    ch.write("stty size; echo TERM=$TERM\n");
    expect(await waitForOutput(ch, /TERM=xterm-256color/)).toMatch(/30 100/);
    ch.setWindow(50, 132, 0, 0);
    ch.write("stty size\n");
    expect(await waitForOutput(ch, /50 132/)).toMatch(/50 132/);
    ch.write("exit 7\n");
    expect((await done).code).toBe(7);
  });

  it("passes exit codes and deaths by signal back, and signals reach a running command", async () => {
    for (const code of [0, 1, 42]) {
      const ch = await pool.openChannel(cfg, { type: "session", command: shellCommand(["sh", "-c", `exit ${code}`]) });
      ch.end();
      expect((await finish(ch)).code).toBe(code);
    }
    const killed = await pool.openChannel(cfg, { type: "session", command: "kill -KILL $$" });
    killed.end();
    const k = await finish(killed);
    expect({ code: k.code, signal: k.signal }).toEqual({ code: null, signal: "KILL" });
    // A signal request while the command runs (OpenSSH ≥ 7.9 delivers it to the process).
    const sleeper = await pool.openChannel(cfg, { type: "session", command: "echo started; exec sleep 30" });
    const sleeping = finish(sleeper);
    await waitForOutput(sleeper, /started/);
    sleeper.signal("TERM");
    expect(await sleeping).toMatchObject({ signal: "TERM" });
  });

  it("is binary-safe: 8 MB of random bytes through cat come back equal", async () => {
    const data = randomBytes(8 * 1024 * 1024);
    const ch = await pool.openChannel(cfg, { type: "session", command: "cat" });
    const done = finish(ch);
    ch.end(data);
    const r = await done;
    expect(r.code).toBe(0);
    expect(createHash("sha256").update(r.out).digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
  });

  it("opens the sftp subsystem (the server answers SSH_FXP_INIT with its version)", async () => {
    const ch = await pool.openChannel(cfg, { type: "subsystem", name: "sftp" });
    const reply = new Promise<Buffer>((resolve) => {
      let buf = Buffer.alloc(0);
      ch.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) resolve(buf);
      });
    });
    // uint32 length 5, byte SSH_FXP_INIT (1), uint32 version 3.
    ch.write(Buffer.from([0, 0, 0, 5, 1, 0, 0, 0, 3]));
    const r = await reply;
    expect(r[4]).toBe(2); // SSH_FXP_VERSION
    expect(r.readUInt32BE(5)).toBe(3);
    ch.close();
    await expect(pool.openChannel(cfg, { type: "subsystem", name: "no-such-subsystem" })).rejects.toMatchObject({
      code: "SSH_CHANNEL_REQUEST_FAILED",
    });
  });

  it("forwards to a port on the VM's loopback, and names a closed port", async () => {
    const server = http.createServer((req, res) => res.end(`hello from ${req.url}`));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    try {
      const ch = await pool.openChannel(cfg, {
        type: "direct-tcpip",
        srcHost: "127.0.0.1",
        srcPort: 50000,
        dstHost: "127.0.0.1",
        dstPort: port,
      });
      const done = finish(ch);
      ch.end("GET /preview HTTP/1.0\r\nHost: x\r\n\r\n");
      expect((await done).out.toString()).toMatch(/^HTTP\/1\.[01] 200[\s\S]*hello from \/preview$/);
    } finally {
      server.close();
    }
    const closed = await freeLoopbackPort();
    const err: unknown = await pool
      .openChannel(cfg, { type: "direct-tcpip", srcHost: "127.0.0.1", srcPort: 50000, dstHost: "127.0.0.1", dstPort: closed })
      .catch((e: unknown) => e);
    expect(isSshError(err, "SSH_FORWARD_FAILED")).toBe(true);
    expect((err as Error).message).toContain(`127.0.0.1:${closed}`);
    expect((err as Error).message).toContain("nothing accepts connections");
    const forbidden: unknown = await pool
      .openChannel(noForwarding, { type: "direct-tcpip", srcHost: "127.0.0.1", srcPort: 50000, dstHost: "127.0.0.1", dstPort: closed })
      .catch((e: unknown) => e);
    expect(isSshError(forbidden, "SSH_FORWARD_FAILED")).toBe(true);
    expect((forbidden as Error).message).toContain("AllowTcpForwarding");
  });

  it("keeps commands on their own connections while sessions are open", async () => {
    const before = pool.stats().hosts[`${cfg.host}:${cfg.port}`]!;
    const shells = await Promise.all(
      Array.from({ length: 12 }, () => pool.openChannel(cfg, { type: "session", command: "exec sleep 30" })),
    );
    const r = await pool.exec(cfg, ["echo", "still here"], { timeoutMs: 10_000 });
    expect(r.stdout).toBe("still here\n");
    const s = pool.stats().hosts[`${cfg.host}:${cfg.port}`]!;
    expect(s.sessionChannels).toBe(12);
    // 12 sessions at 8 per connection: two session connections (the earlier tests' one was reused).
    expect(s.sessionConnections).toBe(2);
    expect(s.connections).toBeGreaterThanOrEqual(1);
    expect(s.activeChannels).toBe(0);
    expect(before.sessionChannels).toBe(0);
    for (const ch of shells) ch.close();
  });
});
