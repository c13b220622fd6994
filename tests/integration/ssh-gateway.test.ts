// The SSH gateway with real OpenSSH clients (ssh, scp, sftp, rsync -e ssh) against sandboxes created
// by the real manager on real sshd build VMs: pty shells that follow window changes, exit codes and
// signals, 50 MB binary-safe, scp both ways, sftp, rsync of 2,000 files, -L to the VM's loopback only,
// -R refused, refusals with their reasons (audited), the per-person session cap, a destroy closing an
// open session, 50 concurrent sessions over two VMs, the host key kept across restarts, a VM whose host
// key changed refused.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { Actor } from "@/lib/auth/actor";
import { SshGateway } from "@/lib/gateway/gateway";
import { loadGatewayHostKey, type GatewayHostKey } from "@/lib/gateway/host-key";
import { createLogger } from "@/lib/logger";
import { addSshKey } from "@/lib/manager/ssh-keys";
import { endSshSessionAsAdmin } from "@/lib/manager/ssh-sessions";
import type { Worker } from "@/lib/manager/worker";

import { freeLoopbackPort, restartVm, run, stopBuildVms, stopVm, type BuildVms } from "../support/build-vms";
import { createVmTestManager, startStandardVms, type VmTestManager } from "../support/vm-harness";
import { strictSshOptions } from "../support/ssh-client";
import { numberedTree } from "../support/trees";

const PTY = path.resolve(import.meta.dirname, "../support/pty-session.py");

let vms: BuildVms;
let t: VmTestManager;
let worker: Worker;
let gateway: SshGateway;
let hostKey: GatewayHostKey;
let dataDir: string;
let scratch: string;
let knownHosts: string;
/** Private key files by person. */
const keys: Record<"alice" | "bob" | "admin" | "stranger", string> = { alice: "", bob: "", admin: "", stranger: "" };
/** alice's ready sandboxes on vm1 and vm2, bob's on vm1. */
let s1: string;
let s2: string;
let bobs: string;

function keygen(name: string): string {
  const file = path.join(scratch, name);
  fs.rmSync(file, { force: true });
  fs.rmSync(`${file}.pub`, { force: true });
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${name}@laptop`, "-f", file]);
  return file;
}

/** OpenSSH client options for the gateway: strict host key checking against our known_hosts, one key. */
function sshOpts(who: keyof typeof keys): string[] {
  return strictSshOptions(keys[who], knownHosts);
}

function ssh(who: keyof typeof keys, id: string, command: string[], opts: { input?: string; timeoutMs?: number } = {}) {
  return run(["ssh", ...sshOpts(who), "-p", String(gateway.port), `${id}@127.0.0.1`, ...command], {
    timeoutMs: opts.timeoutMs ?? 60_000,
    input: opts.input,
  });
}

/** Runs a command with stdin from a file and stdout to a file (binary-safe). */
function runFiles(argv: string[], stdinFile: string, stdoutFile: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(argv[0]!, argv.slice(1), { stdio: [fs.openSync(stdinFile, "r"), fs.openSync(stdoutFile, "w"), "pipe"] });
    let stderr = "";
    p.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    p.on("close", (code) => resolve({ code, stderr }));
  });
}

function sha256File(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

async function sessionsOf(sandboxId: string) {
  return t.db.sshSession.findMany({ where: { sandboxId }, orderBy: { startedAt: "asc" } });
}

/**
 * A gateway on a free loopback port, its host key written to `knownHostsFile`. By default the one the
 * tests share: the 50-session test is one person's, so it runs above the per-person cap (20 by
 * default), else how many were open at once would depend on how fast the VMs answer; the cap has its
 * own test on a gateway of its own.
 */
async function newGateway(opts: { knownHostsFile?: string; instanceId?: string; maxSessionsPerPerson?: number } = {}): Promise<SshGateway> {
  hostKey = loadGatewayHostKey({ dataDir });
  const g = new SshGateway({
    db: t.db,
    ssh: t.manager.ssh!,
    logger: createLogger(process.env.TEST_LOG_LEVEL ?? "silent"),
    hostKey,
    listen: { host: "127.0.0.1", port: 0 },
    instanceId: opts.instanceId,
    closePollMs: 200,
    progressMs: 500,
    limits: { maxSessionsPerPerson: opts.maxSessionsPerPerson ?? 100 },
  });
  await g.start();
  fs.writeFileSync(opts.knownHostsFile ?? knownHosts, `[127.0.0.1]:${g.port} ${hostKey.publicKeyLine}\n`);
  return g;
}

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-gateway-"));
  dataDir = path.join(scratch, "data");
  fs.mkdirSync(dataDir);
  knownHosts = path.join(scratch, "known_hosts");
  vms = await startStandardVms();
  // vm1 allows local forwarding (what `ssh -L` through the gateway needs); vm2 keeps the harness default.
  await stopVm(vms.vm("vm1"));
  vms.vm("vm1").sshdOptions.AllowTcpForwarding = "local";
  await restartVm(vms.vm("vm1"));
  t = await createVmTestManager("sqlite", vms, {
    config: { concurrency: 8, createTimeoutMs: 60_000 },
    profiles: {
      vm1: { extension: "ext.vm-packer", params: { host: "host-vm1" } },
      vm2: { extension: "ext.vm-packer", params: { host: "host-vm2" } },
    },
  });
  worker = t.newWorker();
  const create = async (profile: string, actor: Actor) => (await t.manager.createSandbox(profile, actor)).id;
  s1 = await create("profile.vm1", t.user);
  s2 = await create("profile.vm2", t.user);
  bobs = await create("profile.vm1", t.other);
  await worker.runUntilIdle(120_000);
  for (const id of [s1, s2, bobs]) expect((await t.manager.getSandbox(id)).status).toBe("ready");
  for (const [who, actor] of [
    ["alice", t.user],
    ["bob", t.other],
    ["admin", t.admin],
  ] as const) {
    keys[who] = keygen(who);
    await addSshKey(t.manager, actor, { publicKey: fs.readFileSync(`${keys[who]}.pub`, "utf8") });
  }
  keys.stranger = keygen("stranger");
  gateway = await newGateway();
}, 180_000);

afterAll(async () => {
  try {
    await gateway?.stop();
    await t?.close();
  } finally {
    await stopBuildVms(vms);
    fs.rmSync(scratch, { recursive: true, force: true });
  }
});

describe("SSH gateway with OpenSSH clients", () => {
  it("runs commands in the workspace with exit codes 0, 1, 42 and a signal, recorded per session", async () => {
    const ws = path.join(vms.vm("vm1").workspaceRoot, `sbx-${s1}`);
    const pwd = await ssh("alice", s1, ["pwd"]);
    expect(pwd).toMatchObject({ code: 0, stdout: `${ws}\n` });
    for (const code of [1, 42]) expect((await ssh("alice", s1, [`exit ${code}`])).code).toBe(code);
    // Killed by a signal: OpenSSH reports exit 255 and names the signal.
    const killed = await ssh("alice", s1, ["kill -TERM $$"]);
    expect(killed.code).toBe(255);
    await expect
      .poll(async () => (await sessionsOf(s1)).filter((r) => r.endedAt !== null).length, { timeout: 5_000 })
      .toBeGreaterThanOrEqual(4);
    const rows = await sessionsOf(s1);
    const first = rows.find((r) => r.kind === "exec" && r.exitCode === 0)!;
    expect(first).toMatchObject({ sourceIp: "127.0.0.1", instanceId: gateway.instanceId, userLabel: t.user.label });
    expect(first.bytesOut).toBe(BigInt(ws.length + 1));
    expect(rows.map((r) => r.exitCode)).toEqual(expect.arrayContaining([0, 1, 42]));
    expect(rows.some((r) => r.exitSignal === "TERM")).toBe(true);
    expect(rows.every((r) => r.keyFingerprint.startsWith("SHA256:"))).toBe(true);
    const sandbox = await t.db.sandbox.findUniqueOrThrow({ where: { id: s1 } });
    expect(sandbox.sessionActivityAt).not.toBeNull();
  });

  it("agrees on AES with OpenSSH's default offer and never on chacha20-poly1305 (ssh2's binding breaks it on Node 24)", async () => {
    const target = ["-p", String(gateway.port), `${s1}@127.0.0.1`, "true"];
    // -v names what was agreed; OpenSSH's own order puts chacha20-poly1305 first, then AES-CTR and -GCM.
    const agreed = await run(["ssh", "-v", ...sshOpts("alice"), ...target], { timeoutMs: 60_000 });
    expect(agreed.code).toBe(0);
    expect(agreed.stderr).toMatch(/kex: server->client cipher: aes(128|192|256)-(ctr|gcm@openssh\.com) /);
    expect(agreed.stderr).not.toContain("cipher: chacha20-poly1305");
    const chachaOnly = await run(["ssh", ...sshOpts("alice"), "-c", "chacha20-poly1305@openssh.com", ...target], { timeoutMs: 60_000 });
    expect(chachaOnly.code).toBe(255);
    expect(chachaOnly.stderr).toMatch(/no matching cipher found/);
  });

  it("gives a shell under a pty that follows window changes, passing only LANG/LC_*/TERM", async () => {
    const script = [
      { expect: "\\$ |# " },
      { send: "stty size; echo T=$TERM L=$LANG X=${SBX_SECRET:-unset}; pwd\n" },
      { expect: "40 120" },
      { expect: "X=unset" },
      { resize: [50, 132] },
      { send: "stty size\n" },
      { expect: "50 132" },
      { send: "exit 3\n" },
    ];
    const r = await run(
      [
        "python3",
        PTY,
        "40",
        "120",
        "ssh",
        ...sshOpts("alice"),
        "-tt",
        "-o",
        "SetEnv=LANG=C.UTF-8 SBX_SECRET=1",
        "-p",
        String(gateway.port),
        `${s1}@127.0.0.1`,
      ],
      { input: script.map((s) => JSON.stringify(s)).join("\n"), timeoutMs: 60_000 },
    );
    const out = JSON.parse(r.stdout) as { exit: number; output: string; fail?: string };
    expect(out.fail, out.output).toBeUndefined();
    expect(out.output).toMatch(/T=xterm\S* L=C\.UTF-8 X=unset/);
    expect(out.output).toContain(`sbx-${s1}`);
    expect(out.exit).toBe(3);
  });

  it("is binary-safe: 50 MB of random bytes through cat come back with the same sha256", async () => {
    const input = path.join(scratch, "random.bin");
    const output = path.join(scratch, "random.out");
    fs.writeFileSync(input, randomBytes(50 * 1024 * 1024));
    const t0 = performance.now();
    const r = await runFiles(["ssh", ...sshOpts("alice"), "-p", String(gateway.port), `${s1}@127.0.0.1`, "cat"], input, output);
    const ms = performance.now() - t0;
    expect(r).toMatchObject({ code: 0 });
    expect(sha256File(output)).toBe(sha256File(input));
    console.info(
      `[gateway] 50 MB through cat in ${ms.toFixed(0)} ms (${(50_000 / ms).toFixed(1)} MB/s); load ${fs.readFileSync("/proc/loadavg", "utf8").trim()}`,
    );
    await expect
      .poll(async () => (await sessionsOf(s1)).find((x) => x.bytesIn >= 50n * 1024n * 1024n && x.endedAt !== null)?.bytesOut, {
        timeout: 5_000,
      })
      .toBe(50n * 1024n * 1024n);
    fs.rmSync(output);
  });

  it("copies with scp both ways (sftp and legacy protocols) and runs an sftp batch", async () => {
    const local = path.join(scratch, "up.bin");
    fs.writeFileSync(local, randomBytes(300_000));
    const ws = path.join(vms.vm("vm1").workspaceRoot, `sbx-${s1}`);
    const scp = (args: string[]) => run(["scp", ...sshOpts("alice"), "-P", String(gateway.port), ...args], { timeoutMs: 60_000 });
    expect((await scp([local, `${s1}@127.0.0.1:${ws}/up-sftp.bin`])).code).toBe(0);
    // Legacy scp runs `scp -t` through exec: relative paths land in the workspace.
    expect((await scp(["-O", local, `${s1}@127.0.0.1:up-legacy.bin`])).code).toBe(0);
    expect(sha256File(path.join(ws, "up-sftp.bin"))).toBe(sha256File(local));
    expect(sha256File(path.join(ws, "up-legacy.bin"))).toBe(sha256File(local));
    const back = path.join(scratch, "down.bin");
    expect((await scp([`${s1}@127.0.0.1:${ws}/up-sftp.bin`, back])).code).toBe(0);
    expect(sha256File(back)).toBe(sha256File(local));
    const batch = path.join(scratch, "batch");
    fs.writeFileSync(batch, `cd ${ws}\nput ${local} via-sftp.bin\nget via-sftp.bin ${back}.2\nls -1\n`);
    const sftp = await run(["sftp", ...sshOpts("alice"), "-P", String(gateway.port), "-b", batch, `${s1}@127.0.0.1`], {
      timeoutMs: 60_000,
    });
    expect(sftp.code, sftp.stderr).toBe(0);
    expect(sftp.stdout).toContain("via-sftp.bin");
    expect(sha256File(`${back}.2`)).toBe(sha256File(local));
  });

  it("carries rsync -e ssh of 2,000 files into the workspace", async () => {
    const tree = numberedTree(2000);
    try {
      const e = ["ssh", ...sshOpts("alice"), "-p", String(gateway.port)].join(" ");
      const t0 = performance.now();
      const r = await run(["rsync", "-a", "-e", e, `${tree}/`, `${s2}@127.0.0.1:tree/`], { timeoutMs: 120_000 });
      console.info(`[gateway] rsync of 2,000 files in ${(performance.now() - t0).toFixed(0)} ms`);
      expect(r.code, r.stderr).toBe(0);
      const ws = path.join(vms.vm("vm2").workspaceRoot, `sbx-${s2}`, "tree");
      let n = 0;
      for (const d of fs.readdirSync(ws, { withFileTypes: true, recursive: true })) if (d.isFile()) n++;
      expect(n).toBe(2000);
    } finally {
      fs.rmSync(tree, { recursive: true, force: true });
    }
  });

  it("forwards -L to the VM's loopback only, and refuses -R", async () => {
    const server = http.createServer((req, res) => res.end(`preview ${req.url}`));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const remotePort = (server.address() as AddressInfo).port;
    const good = await freeLoopbackPort();
    const bad = await freeLoopbackPort();
    const tunnel: ChildProcess = spawn(
      "ssh",
      [
        ...sshOpts("alice"),
        "-N",
        "-o",
        "ExitOnForwardFailure=yes",
        "-L",
        `${good}:localhost:${remotePort}`,
        "-L",
        `${bad}:127.0.0.2:${remotePort}`,
        "-p",
        String(gateway.port),
        `${s1}@127.0.0.1`,
      ],
      { stdio: "ignore" },
    );
    try {
      const body = await expect
        .poll(
          async () => {
            try {
              return await (await fetch(`http://127.0.0.1:${good}/x`)).text();
            } catch {
              return "";
            }
          },
          { timeout: 15_000, interval: 100 },
        )
        .toBe("preview /x");
      void body;
      await expect(fetch(`http://127.0.0.1:${bad}/x`)).rejects.toThrow();
    } finally {
      tunnel.kill();
      server.close();
    }
    const r = await run(
      [
        "ssh",
        ...sshOpts("alice"),
        "-N",
        "-o",
        "ExitOnForwardFailure=yes",
        "-R",
        "0:localhost:80",
        "-p",
        String(gateway.port),
        `${s1}@127.0.0.1`,
      ],
      { timeoutMs: 30_000 },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/remote port forwarding failed/i);
  });

  it("refuses unknown keys, other members' sandboxes and destroyed sandboxes with one-line reasons, audited with the address", async () => {
    const unknown = await ssh("stranger", s1, ["true"]);
    expect(unknown.code).toBe(255);
    expect(unknown.stderr).toMatch(/key SHA256:\S+ is not registered/);
    const other = await ssh("bob", s1, ["true"]);
    expect(other.code).toBe(255);
    expect(other.stderr).toContain(`sandbox ${s1} belongs to someone else`);
    // Admins may enter anyone's sandbox (the destroy policy).
    expect((await ssh("admin", bobs, ["echo", "admin-in"])).stdout).toBe("admin-in\n");
    const audits = await t.db.event.findMany({ where: { type: "audit", action: "sandbox.ssh", result: "denied" } });
    expect(audits.find((a) => a.actorId === (t.other as { userId: string }).userId && a.target === s1)).toMatchObject({
      sourceIp: "127.0.0.1",
    });
    expect(audits.find((a) => a.actorId === null && a.message.includes("unknown key"))).toMatchObject({ sourceIp: "127.0.0.1" });
  });

  it("caps a person's open sessions per instance: the next one is refused naming the limit, others get in, an ended one frees a place", async () => {
    const cappedKnownHosts = path.join(scratch, "known_hosts_capped");
    const capped = await newGateway({ knownHostsFile: cappedKnownHosts, instanceId: "gateway-capped", maxSessionsPerPerson: 2 });
    const via = (who: keyof typeof keys, id: string, command: string[]) =>
      run(["ssh", ...strictSshOptions(keys[who], cappedKnownHosts), "-p", String(capped.port), `${id}@127.0.0.1`, ...command], {
        timeoutMs: 60_000,
      });
    const openOnCapped = () => t.db.sshSession.findMany({ where: { instanceId: "gateway-capped", endedAt: null } });
    try {
      const long = [via("alice", s1, ["exec", "sleep", "60"]), via("alice", s2, ["exec", "sleep", "60"])];
      await expect.poll(async () => (await openOnCapped()).length, { timeout: 15_000 }).toBe(2);
      const third = await via("alice", s1, ["true"]);
      expect(third.code).toBe(255);
      expect(third.stderr).toContain("you already have 2 open sessions on this gateway (the limit is 2)");
      const audit = await t.db.event.findFirst({
        where: { type: "audit", action: "sandbox.ssh", result: "denied", message: { contains: "the limit is 2" } },
      });
      expect(audit).toMatchObject({ actorId: (t.user as { userId: string }).userId, sourceIp: "127.0.0.1" });
      // The cap is per person: bob is not held back by alice's sessions.
      expect((await via("bob", bobs, ["echo", "bob-in"])).stdout).toBe("bob-in\n");
      // An ended session frees its place.
      const [first] = await openOnCapped();
      await endSshSessionAsAdmin(t.manager, t.admin, first!.id);
      await expect.poll(async () => (await openOnCapped()).length, { timeout: 15_000 }).toBe(1);
      expect((await via("alice", s1, ["echo", "in-again"])).stdout).toBe("in-again\n");
      for (const row of await openOnCapped()) await endSshSessionAsAdmin(t.manager, t.admin, row.id);
      for (const r of await Promise.all(long)) expect(r.stderr).toContain(`this session was ended by ${t.admin.label}`);
    } finally {
      await capped.stop();
    }
  });

  it("closes an open session with a message when its sandbox is destroyed", async () => {
    const doomed = (await t.manager.createSandbox("profile.vm1", t.user)).id;
    await worker.runUntilIdle(60_000);
    const p = ssh("alice", doomed, ["echo", "in;", "exec", "sleep", "60"], { timeoutMs: 60_000 });
    await expect.poll(async () => (await sessionsOf(doomed)).length, { timeout: 15_000 }).toBe(1);
    const t0 = Date.now();
    await t.manager.destroySandbox(doomed, t.user);
    await worker.runUntilIdle(60_000);
    const r = await p;
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(r.stderr).toContain(`sandbox ${doomed} is being destroyed`);
    expect((await t.manager.getSandbox(doomed)).status).toBe("destroyed");
    const [row] = await sessionsOf(doomed);
    expect(row!.endedAt).not.toBeNull();
    expect(row!.endReason).toContain("being destroyed");
    const again = await ssh("alice", doomed, ["true"]);
    expect(again.code).toBe(255);
    expect(again.stderr).toContain(`sandbox ${doomed} is destroyed`);
  });

  it("lets an admin end a session", async () => {
    const p = ssh("alice", s2, ["exec", "sleep", "60"], { timeoutMs: 60_000 });
    const open = await expect
      .poll(async () => (await sessionsOf(s2)).find((r) => r.endedAt === null)?.id, { timeout: 15_000 })
      .toBeDefined();
    void open;
    const id = (await sessionsOf(s2)).find((r) => r.endedAt === null)!.id;
    await expect(endSshSessionAsAdmin(t.manager, t.user, id)).rejects.toMatchObject({ code: "FORBIDDEN" });
    await endSshSessionAsAdmin(t.manager, t.admin, id);
    const r = await p;
    expect(r.stderr).toContain(`this session was ended by ${t.admin.label}`);
  });

  it("holds 50 concurrent sessions over two VMs without a failure", async () => {
    const t0 = performance.now();
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => ssh("alice", i % 2 ? s2 : s1, ["echo", `n${i}`], { timeoutMs: 90_000 })),
    );
    const failures = results.filter((r, i) => r.code !== 0 || r.stdout !== `n${i}\n`);
    console.info(
      `[gateway] 50 concurrent sessions in ${(performance.now() - t0).toFixed(0)} ms, ${failures.length} failures; ` +
        `rss ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB; load ${fs.readFileSync("/proc/loadavg", "utf8").trim()}`,
    );
    expect(failures.map((f) => f.stderr)).toEqual([]);
  });

  it("keeps its host key across a restart", async () => {
    const before = gateway.fingerprint;
    await gateway.stop();
    gateway = await newGateway();
    expect(gateway.fingerprint).toBe(before);
    expect(hostKey.generated).toBe(false);
    expect(fs.statSync(hostKey.file).mode & 0o777).toBe(0o600);
    expect((await ssh("alice", s1, ["echo", "back"])).stdout).toBe("back\n");
  });

  it("says why when the VM is down, and refuses a VM whose host key changed", async () => {
    const vm2 = vms.vm("vm2");
    await stopVm(vm2);
    const down = await ssh("alice", s2, ["true"]);
    expect(down.code).toBe(255);
    expect(down.stderr).toMatch(new RegExp(`cannot reach sandbox ${s2}: .*${vm2.host}:${vm2.port}`));
    await restartVm(vm2, { newHostKey: true });
    const changed = await ssh("alice", s2, ["true"]);
    expect(changed.code).toBe(255);
    expect(changed.stderr).toMatch(/host key/i);
    expect(changed.stderr).toMatch(/changed|other than the pinned/i);
  });
});
