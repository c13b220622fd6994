// hosts.yaml naming known_hosts files (issue 14, item 10), through the product against real sshd: the
// app's own hosts.yaml reader, host sync, SSH services, health checks and ext.vm-packer creates. A host
// trusted through a hashed known_hosts entry (made by OpenSSH's own `ssh-keygen -H`) works; a host whose
// key the file marks `@revoked` is refused — by health checks and by creates — even with a correct pin,
// and a revocation added to the file later applies at the next connection, without a restart.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";

import { readHostsFile } from "@/lib/hosts/hosts-file";
import { confirmHostKey } from "@/lib/manager/host-lifecycle";
import { pinHostKey, requestReconcile } from "@/lib/manager/host-ops";

import { hostFieldsFor, restartVm, run, startBuildVms, stopBuildVms, type BuildVm, type BuildVms } from "../support/build-vms";
import { waitForStatus } from "../support/manager-harness";
import { createVmTestManager, type VmTestManager } from "../support/vm-harness";

/** `[host]:port <type> <base64>`: the line OpenSSH's known_hosts holds for a VM. */
function knownHostsLine(vm: BuildVm): string {
  return `[${vm.host}]:${vm.port} ${vm.hostPublicKeyLine.split(" ").slice(0, 2).join(" ")}`;
}

describe("hosts.yaml known_hosts files (real sshd)", () => {
  let vms: BuildVms;
  let t: VmTestManager;
  let dir: string;
  let hashedFile: string;
  let teamFile: string;

  beforeAll(async () => {
    vms = await startBuildVms({
      vms: [
        { name: "khash", address: "127.0.0.1" },
        { name: "krev", address: "127.0.0.1" },
      ],
    });
    const hashed = vms.vm("khash");
    const revoked = vms.vm("krev");
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-known-hosts-"));
    // khash: its own file, hashed by OpenSSH (no host name left in it), and no pin in hosts.yaml.
    hashedFile = path.join(dir, "khash_known_hosts");
    fs.writeFileSync(hashedFile, `${knownHostsLine(hashed)}\n`);
    const h = await run(["ssh-keygen", "-H", "-f", hashedFile]);
    expect(h.code, h.stderr).toBe(0);
    expect(fs.readFileSync(hashedFile, "utf8")).toMatch(/^\|1\|[^ ]+ ssh-ed25519 /);
    // krev: pinned with its real fingerprint, but the team's file (top level) revokes its key.
    teamFile = path.join(dir, "team_known_hosts");
    fs.writeFileSync(teamFile, `# the team's file\n@revoked ${knownHostsLine(revoked)}\n`);
    const hostsYaml = path.join(dir, "hosts.yaml");
    const { hostKey: _unpinned, ...hashedEntry } = hostFieldsFor(hashed, { knownHosts: "khash_known_hosts" });
    fs.writeFileSync(
      hostsYaml,
      stringify({ apiVersion: "sandboxer.dev/v1", knownHosts: "team_known_hosts", hosts: [hashedEntry, hostFieldsFor(revoked)] }),
    );
    const hosts = readHostsFile(hostsYaml);
    t = await createVmTestManager("sqlite", vms, {
      hosts,
      profiles: {
        onhash: { extension: "ext.vm-packer", params: { host: "host-khash" } },
        onrev: { extension: "ext.vm-packer", params: { host: "host-krev" } },
      },
      config: { healthIntervalMs: 3_600_000, maxAttempts: 1 },
    });
  }, 60_000);

  afterAll(async () => {
    try {
      await t?.close();
    } finally {
      await stopBuildVms(vms);
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  async function reconcile(hostId: string) {
    await requestReconcile(t.manager, hostId, t.admin);
    await t.newWorker().runUntilIdle(30_000);
    return t.db.buildHost.findUniqueOrThrow({ where: { id: hostId } });
  }

  it("a host trusted through a hashed known_hosts entry is healthy, shows the verified fingerprint, and takes sandboxes", async () => {
    const before = await t.db.buildHost.findUniqueOrThrow({ where: { id: "host-khash" } });
    expect(before.hostKey).toBe("");
    const host = await reconcile("host-khash");
    expect(host.health, host.healthDetail ?? "").toBe("healthy");
    expect(host.hostKey).toBe(vms.vm("khash").hostKeyFingerprint);
    const w = t.newWorker();
    w.start();
    try {
      const s = await t.manager.createSandbox("profile.onhash", t.user);
      expect(await waitForStatus(t.manager, s.id, ["ready", "failed"], 30_000)).toBe("ready");
      await t.manager.destroySandbox(s.id, t.user);
      expect(await waitForStatus(t.manager, s.id, ["destroyed", "failed"], 30_000)).toBe("destroyed");
    } finally {
      await w.stop();
    }
  });

  it("a key the file marks @revoked is refused even with a correct pin: the create fails and health says why", async () => {
    const vm = vms.vm("krev");
    const s = await t.manager.createSandbox("profile.onrev", t.user);
    await t.newWorker().runUntilIdle(30_000);
    const failed = await t.manager.getSandbox(s.id);
    expect(failed.status).toBe("failed");
    expect(failed.statusReason).toContain(`is marked @revoked in ${teamFile}`);
    expect(fs.readdirSync(vm.workspaceRoot)).toEqual([]);

    const host = await reconcile("host-krev");
    expect(host.health).not.toBe("healthy");
    expect(host.healthDetail).toBe(
      `The SSH host key ${vm.hostKeyFingerprint} (ssh-ed25519) offered by 127.0.0.1:${vm.port} is marked @revoked in ${teamFile}; ` +
        "the connection was refused. Replace the host's key, then pin its new fingerprint or add it to the known_hosts file.",
    );
  });

  it("a changed key on a host the file alone trusts is fixed in the file: no pin is taken here, and the hosts list names the file", async () => {
    const vm = await restartVm(vms.vm("khash"), { newHostKey: true });
    const changed = await reconcile("host-khash");
    expect(changed).toMatchObject({ health: "key_changed", offeredHostKey: vm.hostKeyFingerprint });
    expect((await t.manager.listHosts()).find((h) => h.id === "host-khash")?.knownHostsFile).toBe(hashedFile);
    expect((await t.manager.listHosts()).find((h) => h.id === "host-krev")?.knownHostsFile).toBeNull(); // pinned (and the team file)
    for (const attempt of [pinHostKey, confirmHostKey])
      await expect(attempt(t.manager, t.admin, "host-khash", vm.hostKeyFingerprint)).rejects.toMatchObject({
        code: "KEY_FROM_KNOWN_HOSTS",
        message: expect.stringContaining(`put it in that file`),
      });
    expect((await t.db.buildHost.findUniqueOrThrow({ where: { id: "host-khash" } })).health).toBe("key_changed");
    fs.writeFileSync(hashedFile, `${knownHostsLine(vm)}\n`);
    const fixed = await reconcile("host-khash");
    expect(fixed).toMatchObject({ health: "healthy", hostKey: vm.hostKeyFingerprint, offeredHostKey: null });
  });

  it("a revocation added to the host's own file applies at the next connection, without restarting sand-boxer", async () => {
    fs.appendFileSync(hashedFile, `@revoked ${knownHostsLine(vms.vm("khash"))}\n`);
    // Connections already verified stay until they close (idle ones after 30 s): restart sshd, same key.
    await restartVm(vms.vm("khash"));
    const host = await reconcile("host-khash");
    expect(host.health).toBe("unreachable");
    expect(host.healthDetail).toContain(`is marked @revoked in ${hashedFile}`);
  });
});
