// The CLI and the SSH gateway of the built app: `keys add|list|remove`, exec going through the gateway
// once a key is registered (a session row proves the path; --direct keeps the old one), `config-ssh`
// (--dry-run diff, the managed block, then the plain OpenSSH client with `ssh sbx-<id>`, and --remove),
// and `port-forward` to an HTTP server on the VM's loopback.
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { freeLoopbackPort, restartVm, run } from "../support/build-vms";
import { announcedId, settledStatus, startCliWorld, type CliWorld } from "../support/cli-harness";

describe("sandboxer CLI through the SSH gateway", () => {
  let w: CliWorld;
  let id: string;
  let workspace: string;
  let identity: string[];

  beforeAll(async () => {
    // The VM must allow local forwarding for port-forward.
    w = await startCliWorld({ provider: "sqlite" });
    const vm1 = w.vms.vm("vm1");
    vm1.sshdOptions.AllowTcpForwarding = "local";
    await restartVm(vm1);
    identity = ["--identity", w.vms.identityFile];
    const r = await w.cli.run(["create", "profile.vm", "--wait"]);
    if (r.code !== 0) throw new Error(r.stderr);
    id = r.stdout.trim();
    workspace = path.join(w.vms.vm("vm1").workspaceRoot, `sbx-${id}`);
  }, 120_000);

  afterAll(async () => {
    await w?.close();
  });

  const sessions = () => w.database.db.sshSession.count({ where: { sandboxId: id } });

  it("keys add, list and remove; exec uses the gateway once a key is registered, --direct does not", async () => {
    // No key yet: exec goes straight to the VM (the gateway would refuse an unregistered key) and says
    // how to switch to the gateway; --direct asked for that path, so it says nothing.
    const noKey = await w.cli.run(["exec", id, ...identity, "--", "true"]);
    expect(noKey.code).toBe(0);
    expect(noKey.stderr).toContain("no SSH key registered with sand-boxer, so this connects straight to the build VM");
    expect(noKey.stderr).toContain(`sandboxer keys add ${w.vms.identityFile}.pub`);
    const quiet = await w.cli.run(["exec", id, ...identity, "--direct", "--", "true"]);
    expect(quiet).toMatchObject({ code: 0, stderr: "" });
    expect(await sessions()).toBe(0);
    const add = await w.cli.run(["keys", "add", `${w.vms.identityFile}.pub`, "--comment", "test key"]);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(/added ssh-ed25519 SHA256:\S+ \(test key\)/);
    const again = await w.cli.run(["keys", "add", `${w.vms.identityFile}.pub`]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already registered/);
    const list = await w.cli.run(["keys", "list", "--json"]);
    const keys = JSON.parse(list.stdout) as { id: string; fingerprint: string }[];
    expect(keys).toHaveLength(1);
    const r = await w.cli.run(["exec", id, ...identity, "--", "sh", "-c", "pwd; exit 4"]);
    expect(r.code).toBe(4);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(`${workspace}\n`);
    expect(await sessions()).toBeGreaterThanOrEqual(1);
    const before = await sessions();
    expect((await w.cli.run(["exec", id, ...identity, "--direct", "--", "true"])).code).toBe(0);
    expect(await sessions()).toBe(before);
  });

  it("exec enters a local sandbox through the gateway for an admin; its owner who is a member is refused with the reason", async () => {
    const local = await w.cli.run(["create", "profile.local", "--wait"]);
    expect(local.code, local.stderr).toBe(0);
    const localId = local.stdout.trim();
    const sessionsOfLocal = () => w.database.db.sshSession.count({ where: { sandboxId: localId } });
    const argv = ["exec", localId, ...identity, "--", "sh", "-c", 'basename "$(pwd)"; exit 6'];
    // The CLI's person (a member) owns it, and is refused by the gateway.
    const refused = await w.cli.run(argv);
    expect(refused.code).toBe(255);
    expect(refused.stderr).toContain(
      `sandbox ${localId} is a local sandbox (a directory on the sand-boxer server); only admins may enter local sandboxes`,
    );
    expect(await sessionsOfLocal()).toBe(0);
    // The same person as an admin: a local process in the sandbox's directory, its exit status back.
    await w.database.db.user.update({ where: { id: w.userId }, data: { role: "admin" } });
    try {
      const r = await w.cli.run(argv);
      expect(r.stderr).toBe("");
      expect(r).toMatchObject({ code: 6, stdout: `sbx-${localId}\n` });
      expect(await sessionsOfLocal()).toBe(1);
    } finally {
      await w.database.db.user.update({ where: { id: w.userId }, data: { role: "member" } });
    }
    // --direct keeps the API's answer: a local sandbox has no SSH endpoint of its own.
    const direct = await w.cli.run(["exec", localId, ...identity, "--direct", "--", "true"]);
    expect(direct.code).toBe(5);
    expect(direct.stderr).toContain("has no SSH endpoint");
    await w.cli.run(["destroy", "--yes", localId]);
  });

  it("config-ssh shows a diff, writes the block and known_hosts, and plain ssh/rsync reach the sandbox; --remove takes it out", async () => {
    const sshConfig = path.join(w.cli.home, ".ssh", "config");
    fs.mkdirSync(path.dirname(sshConfig), { recursive: true, mode: 0o700 });
    fs.writeFileSync(sshConfig, "Host mine\n  HostName 127.0.0.1\n");
    const dry = await w.cli.run(["config-ssh", "--dry-run", ...identity, "--ssh-config", sshConfig]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`+Host sbx-${id}`);
    expect(fs.readFileSync(sshConfig, "utf8")).toBe("Host mine\n  HostName 127.0.0.1\n");
    const wrote = await w.cli.run(["config-ssh", ...identity, "--ssh-config", sshConfig]);
    expect(wrote.code, wrote.stderr).toBe(0);
    const text = fs.readFileSync(sshConfig, "utf8");
    expect(text).toContain("Host mine\n");
    expect(text).toContain(`Host sbx-${id}`);
    const ssh = await run(["ssh", "-F", sshConfig, "-o", "BatchMode=yes", `sbx-${id}`, "pwd"], { timeoutMs: 30_000 });
    expect(ssh.stderr).toBe("");
    expect(ssh).toMatchObject({ code: 0, stdout: `${workspace}\n` });
    const tree = fs.mkdtempSync(path.join(w.cli.dir, "tree-"));
    fs.writeFileSync(path.join(tree, "a.txt"), "via config-ssh\n");
    const rsync = await run(["rsync", "-a", "-e", `ssh -F ${sshConfig} -o BatchMode=yes`, `${tree}/`, `sbx-${id}:synced/`], {
      timeoutMs: 30_000,
    });
    expect(rsync.code, rsync.stderr).toBe(0);
    expect(fs.readFileSync(path.join(workspace, "synced", "a.txt"), "utf8")).toBe("via config-ssh\n");
    const removed = await w.cli.run(["config-ssh", "--remove", "--ssh-config", sshConfig]);
    expect(removed.code).toBe(0);
    expect(fs.readFileSync(sshConfig, "utf8")).toBe("Host mine\n  HostName 127.0.0.1\n");
  });

  it("run goes through the gateway with the create's own view: the working tree synced, the command's output and exit code", async () => {
    // The first test registered the key; run asks for the gateway's route while its create runs.
    const keys = JSON.parse((await w.cli.run(["keys", "list", "--json"])).stdout) as unknown[];
    expect(keys).toHaveLength(1);
    const dir = fs.mkdtempSync(path.join(w.cli.dir, "run-"));
    fs.writeFileSync(path.join(dir, "hello.txt"), "from the working tree\n");
    const r = await w.cli.run(["run", "profile.vm", ...identity, "--", "sh", "-c", "cat hello.txt; exit 3"], { cwd: dir });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stdout).toBe("from the working tree\n");
    const created = announcedId(r.stderr);
    // Its sync and command were gateway sessions of that sandbox; it was destroyed afterwards.
    expect(await w.database.db.sshSession.count({ where: { sandboxId: created } })).toBeGreaterThanOrEqual(1);
    expect(await settledStatus(w, created)).toBe("destroyed");
  });

  it("port-forward reaches an HTTP server on the VM's loopback", async () => {
    const server = http.createServer((_req, res) => res.end("preview ok"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const remote = (server.address() as AddressInfo).port;
    const local = await freeLoopbackPort();
    const p = w.cli.start(["port-forward", id, `${local}:${remote}`, ...identity]);
    try {
      let body = "";
      for (let i = 0; i < 100 && body !== "preview ok"; i++) {
        body = await fetch(`http://127.0.0.1:${local}/`).then(
          (r) => r.text(),
          () => "",
        );
        if (body !== "preview ok") await new Promise((r) => setTimeout(r, 100));
      }
      expect(body, p.stderr()).toBe("preview ok");
    } finally {
      p.interrupt();
      await p.result;
      server.close();
    }
  });
});
