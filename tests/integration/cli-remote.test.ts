// The CLI's own ssh against real sshd build VMs, with the pinned key from the server and the test
// client key: exec (streamed output, exit codes, quoting), ssh (a login shell in the workspace), and
// the remote build `run` (sync with .gitignore, the command's exit code, the sandbox destroyed after
// success, failure and Ctrl-C; its sync and command share one connection). Also measures `run -- true` against the same steps done by hand.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { PinnedTarget } from "@/cli/remote";
import type { ConnectionView } from "@/lib/manager/connection";

import { processRunning, run } from "../support/build-vms";
import { announcedId, settledStatus, startCliWorld, type CliWorld } from "../support/cli-harness";

/** A checkout: tracked files, ignored files and directories, and a .git directory. */
function makeProject(root: string): string {
  const dir = fs.mkdtempSync(path.join(root, "project-"));
  fs.writeFileSync(path.join(dir, "hello.txt"), "hello from the checkout\n");
  fs.mkdirSync(path.join(dir, "src", "lib"), { recursive: true });
  fs.writeFileSync(path.join(dir, "src", "lib", "Main.hs"), "main = print 42\n");
  fs.writeFileSync(path.join(dir, "it's here.txt"), "odd name\n");
  fs.writeFileSync(path.join(dir, ".gitignore"), "*.log\nbuild/\n");
  fs.writeFileSync(path.join(dir, "debug.log"), "ignored\n");
  fs.mkdirSync(path.join(dir, "build"));
  fs.writeFileSync(path.join(dir, "build", "out.o"), "ignored\n");
  fs.mkdirSync(path.join(dir, ".git"));
  fs.writeFileSync(path.join(dir, ".git", "HEAD"), "ref: refs/heads/main\n");
  return dir;
}

describe("sandboxer CLI: exec, ssh and run over real SSH", () => {
  let w: CliWorld;
  let id: string;
  let workspace: string;
  let identity: string[];
  let project: string;

  beforeAll(async () => {
    w = await startCliWorld({ provider: "postgresql" });
    identity = ["--identity", w.vms.identityFile];
    const r = await w.cli.run(["create", "profile.vm", "--wait"]);
    if (r.code !== 0) throw new Error(r.stderr);
    id = r.stdout.trim();
    workspace = path.join(w.vms.vm("vm1").workspaceRoot, `sbx-${id}`);
    project = makeProject(w.cli.dir);
  }, 120_000);

  afterAll(async () => {
    await w?.close();
  });

  async function status(sandboxId: string): Promise<string> {
    return (await w.database.db.sandbox.findUniqueOrThrow({ where: { id: sandboxId } })).status;
  }

  it("exec runs in the workspace, keeps stdout and stderr apart and returns the exit code", async () => {
    // --direct: no key is registered here, and without it exec would add a note saying how to register one.
    const r = await w.cli.run(["exec", id, ...identity, "--direct", "--", "sh", "-c", "pwd; echo to-stderr >&2; exit 7"]);
    expect(r.code).toBe(7);
    expect(r.stdout).toBe(`${workspace}\n`);
    expect(r.stderr).toBe("to-stderr\n"); // the PID marker is not shown
    const ok = await w.cli.run(["exec", id, "--", "true"], { env: { SANDBOXER_SSH_IDENTITY: w.vms.identityFile } });
    expect(ok.code, ok.stderr).toBe(0);
  });

  it("exec passes every argument through unchanged (no local or remote shell splitting)", async () => {
    const args = ["a b", "it's", "$HOME", "*", "`id`", "; rm -rf /", "", "--flag"];
    const r = await w.cli.run(["exec", id, ...identity, "--", "printf", "[%s]\\n", ...args]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(args.map((a) => `[${a}]\n`).join(""));
  });

  it("exec streams output as it is produced, and forwards stdin", async () => {
    const p = w.cli.start(["exec", id, ...identity, "--", "sh", "-c", "echo first; sleep 2; echo second"]);
    await p.waitForOutput(/first/, 20_000);
    expect(p.stdout()).not.toContain("second");
    expect((await p.result).stdout).toBe("first\nsecond\n");
    const piped = await w.cli.run(["exec", id, ...identity, "--", "wc", "-l"], { input: "1\n2\n3\n" });
    expect(piped.stdout.trim()).toBe("3");
  });

  it("exec: a sandbox without SSH → exit 5 with the reason; an unknown one → exit 3", async () => {
    const local = await w.cli.run(["create", "profile.local", "--wait"]);
    expect(local.code, local.stderr).toBe(0);
    const r = await w.cli.run(["exec", local.stdout.trim(), "--", "true"]);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain("has no SSH endpoint");
    expect((await w.cli.run(["exec", "zzzzzzzzzzzz", "--", "true"])).code).toBe(3);
    await w.cli.run(["destroy", "--yes", local.stdout.trim()]);
  });

  it("exec refuses a host that presents another key than the pinned one (never accepts it)", async () => {
    // The registry's key line is for vm1; point the handle at vm2's sshd (same user, another key).
    const vm2 = w.vms.vm("vm2");
    const other = await w.cli.run(["create", "profile.vm", "--wait"]);
    const otherId = other.stdout.trim();
    const row = await w.database.db.sandbox.findUniqueOrThrow({ where: { id: otherId } });
    await w.database.db.sandbox.update({
      where: { id: otherId },
      data: { handle: { ...(row.handle as object), vm_target: vm2.host, ssh_port: vm2.port } },
    });
    const r = await w.cli.run(["exec", otherId, ...identity, "--", "true"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/refusing to connect|Host key verification failed/);
    await w.database.db.sandbox.update({ where: { id: otherId }, data: { handle: row.handle as object } });
    await w.cli.run(["destroy", "--yes", otherId]);
  });

  it("ssh opens a login shell in the workspace (commands from stdin here; a terminal in real use)", async () => {
    const r = await w.cli.run(["ssh", id, ...identity], { input: "pwd\nexit 3\n" });
    expect(r.code).toBe(3);
    expect(r.stdout).toContain(workspace);
  });

  it("run: the command sees the synced checkout without ignored files; its output streams; --wait-destroy exits once the sandbox is destroyed", async () => {
    const r = await w.cli.run(
      [
        "run",
        "profile.vm",
        ...identity,
        "--wait-destroy",
        "--",
        "sh",
        "-c",
        "cat hello.txt src/lib/Main.hs \"it's here.txt\"; ls -A | sort | tr '\\n' ' '; echo; test ! -e debug.log && test ! -e build && test ! -e .git",
      ],
      { cwd: project },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("hello from the checkout\nmain = print 42\nodd name\n.gitignore hello.txt it's here.txt src \n");
    const sandboxId = announcedId(r.stderr);
    expect(r.stderr).toMatch(/→ ready/);
    expect(r.stderr).toMatch(/▸ syncing .* → sbxtest@127\.0\.0\.1:/);
    expect(r.stderr).toContain(`▸ destroyed ${sandboxId}`);
    expect(await status(sandboxId)).toBe("destroyed");
    expect(fs.existsSync(path.join(w.vms.vm("vm1").workspaceRoot, `sbx-${sandboxId}`))).toBe(false);
  });

  it("run's sync and command share one connection: the target's own control master, stopped by close()", async () => {
    const res = await fetch(`${w.server.url}/api/v1/sandboxes/${id}/connection`, { headers: { authorization: `Bearer ${w.token}` } });
    const target = await PinnedTarget.open((await res.json()) as ConnectionView, w.vms.identityFile);
    let masterPid: number | undefined;
    // The client's side of the TCP connection a command arrived on, as sshd tells it.
    const clientPort = async () => {
      const r = await run(["ssh", ...target.sshOptions({ batch: true }), "-T", target.destination, "echo $SSH_CONNECTION"]);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.split(" ")[1];
    };
    try {
      expect(await clientPort()).not.toBe(await clientPort()); // no master: a connection (and handshake) each
      expect(await target.startMaster(AbortSignal.timeout(30_000))).toBe(true);
      const first = await clientPort();
      expect(await clientPort()).toBe(first);
    } finally {
      masterPid = target.masterPid;
      await target.close();
    }
    expect(masterPid).toBeGreaterThan(0);
    const alive = () => {
      try {
        process.kill(masterPid!, 0);
        return true;
      } catch {
        return false;
      }
    };
    // close() resolves once the master has exited and been reaped: nothing to wait for here.
    expect(alive()).toBe(false);
  });

  it("run: a failing command's exit code comes back, and the sandbox is still destroyed", async () => {
    const r = await w.cli.run(["run", "profile.vm", ...identity, "-C", project, "--", "sh", "-c", "echo building; exit 3"]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe("building\n");
    const sandboxId = announcedId(r.stderr);
    expect(r.stderr).toContain(`▸ destroying ${sandboxId} in the background`);
    expect(await settledStatus(w, sandboxId)).toBe("destroyed");
    expect(fs.existsSync(path.join(w.vms.vm("vm1").workspaceRoot, `sbx-${sandboxId}`))).toBe(false);
  });

  it("run exits once the destroy is queued; the server finishes it and keeps its outcome (here a file the build user cannot delete)", async () => {
    const cmd = ["sh", "-c", 'echo "workspace=$PWD"; while [ ! -e go ]; do sleep 0.05; done'];
    const blockRemoval = async (p: ReturnType<CliWorld["cli"]["start"]>) => {
      await p.waitForOutput(/workspace=\S+\n/, 60_000);
      const ws = /workspace=(\S+)\n/.exec(p.stdout())![1]!;
      expect(ws.startsWith(`${w.vms.vm("vm1").workspaceRoot}/sbx-`), ws).toBe(true);
      // A root-owned directory with a file in it: the build user, who owns the workspace, cannot remove it.
      fs.mkdirSync(path.join(ws, "root-owned"));
      fs.writeFileSync(path.join(ws, "root-owned", "stuck"), "x");
      fs.writeFileSync(path.join(ws, "go"), "");
      return ws;
    };
    const p = w.cli.start(["run", "profile.vm", ...identity, "-C", project, "--", ...cmd]);
    const ws = await blockRemoval(p);
    const r = await p.result;
    expect(r.code, r.stderr).toBe(0);
    const sandboxId = announcedId(r.stderr);
    expect(r.stderr).toContain(`▸ destroying ${sandboxId} in the background (its outcome: sandboxer show ${sandboxId})`);
    expect(r.stderr).not.toMatch(/destroy_failed|▸ destroyed/);
    // Nothing lost: the failure is the sandbox's, for the team to see, with the path that stayed.
    expect(await settledStatus(w, sandboxId)).toBe("destroy_failed");
    const row = await w.database.db.sandbox.findUniqueOrThrow({ where: { id: sandboxId } });
    expect(row.statusReason).toContain(path.join(ws, "root-owned"));

    // With --wait-destroy the same outcome is the CLI's to report (the command's exit code stays).
    const waited = w.cli.start(["run", "profile.vm", ...identity, "--wait-destroy", "-C", project, "--", ...cmd]);
    const ws2 = await blockRemoval(waited);
    const r2 = await waited.result;
    expect(r2.code, r2.stderr).toBe(0);
    const waitedId = announcedId(r2.stderr);
    expect(r2.stderr).toMatch(new RegExp(`✗ ${waitedId} is destroy_failed: .*root-owned`));

    for (const [dir, sid] of [
      [ws, sandboxId],
      [ws2, waitedId],
    ] as const) {
      fs.rmSync(path.join(dir, "root-owned"), { recursive: true });
      expect((await w.cli.run(["destroy", "--yes", sid])).code).toBe(0);
      expect(fs.existsSync(dir)).toBe(false);
    }
  });

  it("run: Ctrl-C mid-command stops the remote command, destroys the sandbox and exits 130", async () => {
    const marker = `sleep 31${process.pid % 10}7`;
    const p = w.cli.start(["run", "profile.vm", ...identity, "-C", project, "--", "sh", "-c", `echo started; ${marker}; echo never`]);
    await p.waitForOutput(/started/, 60_000);
    const sandboxId = announcedId(p.stderr());
    expect(await processRunning(marker)).toBe(true);
    p.interrupt("SIGINT");
    const r = await p.result;
    expect(r.code, r.stderr).toBe(130);
    expect(r.stdout).not.toContain("never");
    expect(r.stderr).toContain("Interrupted");
    expect(await settledStatus(w, sandboxId)).toBe("destroyed");
    expect(await processRunning(marker)).toBe(false);
  });

  it("run: Ctrl-C while the sandbox is still being created destroys it too", async () => {
    const p = w.cli.start(["run", "profile.vm", ...identity, "-C", project, "--", "true"]);
    await p.waitForOutput(/creating [a-z0-9]+ from/, 30_000);
    p.interrupt("SIGINT");
    const r = await p.result;
    expect(r.code, r.stderr).toBe(130);
    expect(await settledStatus(w, announcedId(r.stderr))).toBe("destroyed");
  });

  it("run --keep keeps the sandbox; run --sandbox reuses one and leaves it alone", async () => {
    const kept = await w.cli.run(["run", "profile.vm", ...identity, "--keep", "-C", project, "--", "touch", "made-remotely"]);
    expect(kept.code, kept.stderr).toBe(0);
    const keptId = announcedId(kept.stderr);
    expect(await status(keptId)).toBe("ready");
    const reuse = await w.cli.run(["run", "profile.vm", ...identity, "--sandbox", keptId, "-C", project, "--", "ls", "made-remotely"]);
    expect(reuse.code, reuse.stderr).toBe(0);
    expect(reuse.stdout).toBe("made-remotely\n");
    expect(await status(keptId)).toBe("ready");
    await w.cli.run(["destroy", "--yes", keptId]);
  });

  it("run: a profile that fails to create → exit 1 with the reason, and a destroy of the failed sandbox is requested", async () => {
    const r = await w.cli.run(["run", "profile.vm-bad-key", ...identity, "-C", project, "--", "true"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Error: Sandbox [a-z0-9]+ is failed: .*host key/);
    // Its teardown connects with the same (wrong) pin, so the server may report destroy_failed: what
    // matters here is that `run` asked for it and said how it ended.
    expect(["destroying", "destroyed", "destroy_failed"]).toContain(await status(announcedId(r.stderr)));
  });

  it("measures `run -- true` against the same steps by hand (logged, not asserted)", async () => {
    const vm1 = w.vms.vm("vm1");
    const started = performance.now();
    const r = await w.cli.run(["run", "profile.vm", ...identity, "-C", project, "--", "true"]);
    const cliMs = performance.now() - started;
    expect(r.code, r.stderr).toBe(0);

    const ssh = [
      "ssh",
      "-F",
      "/dev/null",
      "-i",
      w.vms.identityFile,
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      `UserKnownHostsFile=${w.vms.knownHostsPath}`,
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "BatchMode=yes",
      "-p",
      String(vm1.port),
    ];
    const dest = `${vm1.user}@${vm1.host}`;
    const ws = path.join(vm1.workspaceRoot, `sbx-byhand${process.pid}`);
    const steps: [string, number][] = [];
    const step = async (name: string, argv: string[]) => {
      const t = performance.now();
      const res = await run(argv, { timeoutMs: 30_000 });
      if (res.code !== 0) throw new Error(`${name}: ${res.stderr}`);
      steps.push([name, performance.now() - t]);
    };
    const t0 = performance.now();
    await step("ssh mkdir", [...ssh, dest, `mkdir ${ws}`]);
    await step("rsync", [
      "rsync",
      "-az",
      "-s",
      "--filter=:- .gitignore",
      "--exclude=.git",
      "-e",
      ssh.join(" "),
      "--",
      `${project}/`,
      `${dest}:${ws}/`,
    ]);
    await step("ssh true", [...ssh, dest, `cd ${ws} && true`]);
    await step("ssh rm -rf", [...ssh, dest, `rm -rf ${ws}`]);
    const byHandMs = performance.now() - t0;
    const cliSteps = /▸ total .*\((.*)\)/.exec(r.stderr)?.[1] ?? "?";
    console.log(
      `[timing] sandboxer run profile.vm -- true: ${(cliMs / 1000).toFixed(2)} s wall (${cliSteps}); ` +
        `by hand: ${(byHandMs / 1000).toFixed(2)} s (${steps.map(([n, ms]) => `${n} ${(ms / 1000).toFixed(2)} s`).join(", ")}); ` +
        `CLI start-up alone: ${(await startupMs()).toFixed(0)} ms`,
    );
  });

  async function startupMs(): Promise<number> {
    const t = performance.now();
    await w.cli.run(["--version"], { cwd: os.tmpdir() });
    return performance.now() - t;
  }
});
