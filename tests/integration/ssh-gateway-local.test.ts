// Local sandboxes (ext.local) through the SSH gateway, with the real OpenSSH client: an admin's exec
// runs in the sandbox's directory on this machine with its exit status, binary-safe both ways, under a
// pty that follows window changes, without the server's environment; the owner who is not an admin is
// refused with the reason (and audited); sessions are recorded like remote ones; another extension's
// sandbox whose handle looks like a local one is not entered. The loopback-only
// rule is unit-tested (lib/gateway/gateway.test.ts): a test listens on loopback only.
import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { SshGateway } from "@/lib/gateway/gateway";
import { loadGatewayHostKey } from "@/lib/gateway/host-key";
import { createSshServices } from "@/lib/hosts/ssh-services";
import { createLogger } from "@/lib/logger";
import { addSshKey } from "@/lib/manager/ssh-keys";
import type { Worker } from "@/lib/manager/worker";
import { newSandboxId } from "@/lib/sandbox-id";

import { run } from "../support/build-vms";
import { createTestManager, type TestManager } from "../support/manager-harness";
import { plantSandboxRow } from "../support/sandbox-rows";
import { strictSshOptions } from "../support/ssh-client";

const PTY = path.resolve(import.meta.dirname, "../support/pty-session.py");

let t: TestManager;
let worker: Worker;
let gateway: SshGateway;
let scratch: string;
let knownHosts: string;
const keys = { admin: "", alice: "" };
/** The admin's local sandbox and alice's (alice is a member). */
let mine: string;
let alices: string;

function ssh(who: keyof typeof keys, id: string, argv: string[], input?: string) {
  return run(["ssh", ...strictSshOptions(keys[who], knownHosts), "-p", String(gateway.port), `${id}@127.0.0.1`, ...argv], {
    timeoutMs: 60_000,
    input,
  });
}

/** Processes whose command line is exactly `argv`. */
function processesRunning(argv: string[]): number {
  const want = `${argv.join("\0")}\0`;
  let n = 0;
  for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, "utf8") === want) n++;
    } catch {
      // Gone meanwhile.
    }
  }
  return n;
}

function workspaceOf(id: string): string {
  return path.join(t.configDir, "workspaces", `sbx-${id}`);
}

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-gateway-local-"));
  knownHosts = path.join(scratch, "known_hosts");
  t = await createTestManager("sqlite", {
    includeRepoManifests: true,
    profiles: { local: { extension: "ext.local", params: { seed: null } } },
  });
  worker = t.newWorker();
  mine = (await t.manager.createSandbox("profile.local", t.admin)).id;
  alices = (await t.manager.createSandbox("profile.local", t.user)).id;
  await worker.runUntilIdle(30_000);
  for (const id of [mine, alices]) expect((await t.manager.getSandbox(id)).status).toBe("ready");
  for (const [who, actor] of [
    ["admin", t.admin],
    ["alice", t.user],
  ] as const) {
    const file = path.join(scratch, who);
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${who}@laptop`, "-f", file]);
    keys[who] = file;
    await addSshKey(t.manager, actor, { publicKey: fs.readFileSync(`${file}.pub`, "utf8") });
  }
  const hostKey = loadGatewayHostKey({ dataDir: scratch });
  gateway = new SshGateway({
    db: t.db,
    ssh: createSshServices({ db: t.db, hosts: [], readyTimeoutMs: 5_000 }),
    logger: createLogger(process.env.TEST_LOG_LEVEL ?? "silent"),
    hostKey,
    listen: { host: "127.0.0.1", port: 0 },
    closePollMs: 200,
    progressMs: 500,
  });
  await gateway.start();
  fs.writeFileSync(knownHosts, `[127.0.0.1]:${gateway.port} ${hostKey.publicKeyLine}\n`);
}, 60_000);

afterAll(async () => {
  try {
    await gateway?.stop();
    await t?.close();
  } finally {
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  }
});

describe("local sandboxes through the SSH gateway", () => {
  it("an admin's exec runs in the sandbox's directory with its exit status, without the server's environment", async () => {
    process.env.SBX_SERVER_SECRET = "must-not-leak";
    try {
      const r = await ssh("admin", mine, ["pwd; echo secret=${SBX_SERVER_SECRET:-unset}; exit 5"]);
      expect(r.stderr).toBe("");
      expect(r).toMatchObject({ code: 5, stdout: `${workspaceOf(mine)}\nsecret=unset\n` });
    } finally {
      delete process.env.SBX_SERVER_SECRET;
    }
    // Admins enter anyone's local sandbox; a command killed by a signal comes back as one.
    expect(await ssh("admin", alices, ["pwd"])).toMatchObject({ code: 0, stdout: `${workspaceOf(alices)}\n` });
    expect((await ssh("admin", mine, ["kill -TERM $$"])).code).toBe(255);
    await expect
      .poll(async () => t.db.sshSession.count({ where: { sandboxId: mine, endedAt: { not: null } } }), { timeout: 5_000 })
      .toBe(2);
    const rows = await t.db.sshSession.findMany({ where: { sandboxId: mine }, orderBy: { startedAt: "asc" } });
    expect(rows[0]).toMatchObject({ kind: "exec", exitCode: 5, userLabel: t.admin.label, sourceIp: "127.0.0.1" });
    expect(rows[0]!.bytesOut).toBe(BigInt(`${workspaceOf(mine)}\nsecret=unset\n`.length));
    expect(rows[1]).toMatchObject({ exitSignal: "TERM" });
  });

  it("what a session started in the background does not outlive it, even ignoring SIGHUP", async () => {
    const r = await ssh("admin", mine, ['trap "" HUP; sleep 3600 </dev/null >/dev/null 2>&1 & echo $!']);
    expect(r.code).toBe(0);
    const pid = Number(r.stdout.trim());
    expect(Number.isInteger(pid) && pid > 1).toBe(true);
    const alive = () => {
      try {
        return !fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.startsWith("Z");
      } catch {
        return false;
      }
    };
    // Hung up when the session ended, killed 2 s later (it ignores the hang-up).
    await expect.poll(alive, { timeout: 15_000, interval: 200 }).toBe(false);
  });

  it("carries stdin and stdout byte for byte, and scp over sftp", async () => {
    const input = path.join(scratch, "in.bin");
    const output = path.join(scratch, "out.bin");
    fs.writeFileSync(input, randomBytes(5 * 1024 * 1024));
    const code = await new Promise<number | null>((resolve) => {
      const p = spawn(
        "ssh",
        [...strictSshOptions(keys.admin, knownHosts), "-p", String(gateway.port), `${mine}@127.0.0.1`, "cat; cat > copy.bin"],
        { stdio: [fs.openSync(input, "r"), fs.openSync(output, "w"), "ignore"] },
      );
      p.on("close", resolve);
    });
    expect(code).toBe(0);
    const sha = (f: string) => createHash("sha256").update(fs.readFileSync(f)).digest("hex");
    expect(sha(output)).toBe(sha(input));
    // The second cat found stdin at its end: nothing was left over or duplicated.
    expect(fs.statSync(path.join(workspaceOf(mine), "copy.bin")).size).toBe(0);
    // scp (the sftp subsystem: OpenSSH's sftp-server, started in the directory).
    const scp = await run(
      ["scp", ...strictSshOptions(keys.admin, knownHosts), "-P", String(gateway.port), input, `${mine}@127.0.0.1:scp.bin`],
      {
        timeoutMs: 60_000,
      },
    );
    expect(scp.code, scp.stderr).toBe(0);
    expect(sha(path.join(workspaceOf(mine), "scp.bin"))).toBe(sha(input));
  });

  it("gives a shell under a pty in the directory that follows window changes", async () => {
    const script = [
      { expect: "\\$ |# " },
      { send: "stty size; pwd\n" },
      { expect: "40 120" },
      { resize: [50, 132] },
      // OpenSSH may send the next line before the window change, and the gateway applies the change
      // with stty a moment later: wait (at most 5 s) until the terminal says so, then print it.
      { send: 'for i in $(seq 50); do [ "$(stty size)" = "50 132" ] && break; sleep 0.1; done; echo "size: $(stty size)"\n' },
      { expect: "size: 50 132" },
      { send: "exit 3\n" },
    ];
    const r = await run(
      [
        "python3",
        PTY,
        "40",
        "120",
        "ssh",
        ...strictSshOptions(keys.admin, knownHosts),
        "-tt",
        "-p",
        String(gateway.port),
        `${mine}@127.0.0.1`,
      ],
      { input: script.map((s) => JSON.stringify(s)).join("\n"), timeoutMs: 60_000 },
    );
    const out = JSON.parse(r.stdout) as { exit: number; output: string; fail?: string };
    expect(out.fail, out.output).toBeUndefined();
    expect(out.output).toContain(workspaceOf(mine));
    expect(out.exit).toBe(3);
  });

  it("refuses a member, even the sandbox's owner, with the reason, and audits it", async () => {
    const r = await ssh("alice", alices, ["true"]);
    expect(r.code).toBe(255);
    expect(r.stderr).toContain(`sandbox ${alices} is a local sandbox`);
    expect(r.stderr).toContain("only admins may enter local sandboxes");
    expect(fs.existsSync(workspaceOf(alices))).toBe(true);
    const denied = await t.db.event.findFirst({ where: { type: "audit", action: "sandbox.ssh", target: alices, result: "denied" } });
    expect(denied).toMatchObject({ actorId: (t.user as { userId: string }).userId, sourceIp: "127.0.0.1" });
    expect(denied?.message).toMatch(/only admins may enter local sandboxes/);
  });

  it("a destroy ends an open local session with a message and hangs up its processes before the directory goes", async () => {
    const doomed = (await t.manager.createSandbox("profile.local", t.admin)).id;
    await worker.runUntilIdle(30_000);
    const sleeper = ["sleep", String(6_000 + Math.floor(Math.random() * 1_000))];
    const p = ssh("admin", doomed, [`echo in; exec ${sleeper.join(" ")}`]);
    await expect.poll(() => processesRunning(sleeper), { timeout: 15_000 }).toBe(1);
    await t.manager.destroySandbox(doomed, t.admin);
    await worker.runUntilIdle(60_000);
    const r = await p;
    expect(r.stdout, r.stderr).toBe("in\n");
    expect(r.stderr).toContain(`sandbox ${doomed} is being destroyed`);
    expect((await t.manager.getSandbox(doomed)).status).toBe("destroyed");
    expect(fs.existsSync(workspaceOf(doomed))).toBe(false);
    const [row] = await t.db.sshSession.findMany({ where: { sandboxId: doomed } });
    expect(row).toMatchObject({ endReason: expect.stringContaining("being destroyed") });
    // SIGHUP ends it (SIGKILL 2 s later otherwise).
    await expect.poll(() => processesRunning(sleeper), { timeout: 5_000 }).toBe(0);
  });

  it("enters as local only the sandboxes of a machine-local extension, not another's whose handle looks like one", async () => {
    const id = newSandboxId();
    const root = path.dirname(workspaceOf(mine));
    const dir = path.join(root, `sbx-${id}`);
    fs.mkdirSync(dir);
    try {
      await plantSandboxRow(t.db, {
        id,
        ownerId: (t.admin as { userId: string }).userId,
        profileId: "profile.local",
        extensionId: "ext.fake",
        status: "ready",
        params: {},
        input: {},
        handle: { extension: "ext.fake", workspace_root: root, workspace_path: dir },
      });
      const r = await ssh("admin", id, ["touch entered"]);
      expect(r.code).toBe(255);
      expect(r.stderr).toContain(`sandbox ${id} (ext.fake) has no SSH endpoint`);
      expect(fs.existsSync(path.join(dir, "entered"))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses port forwarding into a local sandbox", async () => {
    // -W opens a direct-tcpip channel at once (what -L does per connection).
    const w = await run(
      ["ssh", ...strictSshOptions(keys.admin, knownHosts), "-W", "127.0.0.1:22", "-p", String(gateway.port), `${mine}@127.0.0.1`],
      {
        timeoutMs: 30_000,
      },
    );
    expect(w.code).toBe(255);
    expect(w.stderr).toMatch(/administratively prohibited|open failed/);
  });
});
