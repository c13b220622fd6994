// Images and Packer builds against a real sshd VM and Debian's packer: a rebuild in place with the
// `null` builder goes through sand-boxer's verified tunnel and writes the marker, the host reports
// the new version; a failing build (`file` builder) is recorded with Packer's error and changes no
// host; cancel kills Packer; a changed host key stops the build before any provisioner runs; a
// profile pinned to an image waits with the reason until a channel points at a built version;
// revoking the version drains the host; a rebuild that gives the VM a new host key hands that key to
// an admin to confirm (the host waits as after an add) instead of leaving it in key_changed.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { confirmHostKey } from "@/lib/manager/host-lifecycle";
import { requestReconcile } from "@/lib/manager/host-ops";
import {
  cancelImageBuild,
  getImageBuild,
  imageBuildLog,
  listImages,
  revokeVersion,
  setChannel,
  startImageBuild,
} from "@/lib/manager/images";

import { markerPathOf, restartVm, run, startBuildVms, stopBuildVms, type BuildVms } from "../support/build-vms";
import { waitForStatus } from "../support/manager-harness";
import { createVmTestManager, type VmTestManager } from "../support/vm-harness";

const VARIABLES = `
variable "image_name" { type = string }
variable "image_version" { type = string }
variable "marker_path" { type = string }
variable "ssh_host" {
  type    = string
  default = ""
}
variable "ssh_port" {
  type    = string
  default = "22"
}
variable "ssh_username" {
  type    = string
  default = ""
}
variable "ssh_private_key_file" {
  type    = string
  default = ""
}
`;

const TEMPLATES: Record<string, string> = {
  "haskell.pkr.hcl": `${VARIABLES}
variable "ghc_version" { type = string }
source "null" "vm" {
  ssh_host             = var.ssh_host
  ssh_port             = var.ssh_port
  ssh_username         = var.ssh_username
  ssh_private_key_file = var.ssh_private_key_file
}
build {
  sources = ["source.null.vm"]
  provisioner "shell" {
    inline = [
      "echo installing ghc \${var.ghc_version}",
      "printf '{\\"name\\":\\"%s\\",\\"version\\":\\"%s\\",\\"builtAt\\":\\"%s\\"}\\\\n' '\${var.image_name}' '\${var.image_version}' \\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\\" > '\${var.marker_path}'",
    ]
  }
  post-processor "manifest" { output = "manifest.json" }
}
`,
  // A rebuild that, like a real reinstall, gives the VM a new host key: the last step (on this machine,
  // as root) writes a new key over the test sshd's, which it reads for each new connection.
  "rekey.pkr.hcl": `${VARIABLES}
variable "host_key_path" { type = string }
source "null" "vm" {
  ssh_host             = var.ssh_host
  ssh_port             = var.ssh_port
  ssh_username         = var.ssh_username
  ssh_private_key_file = var.ssh_private_key_file
}
build {
  sources = ["source.null.vm"]
  provisioner "shell" {
    inline = [
      "printf '{\\"name\\":\\"%s\\",\\"version\\":\\"%s\\"}\\\\n' '\${var.image_name}' '\${var.image_version}' > '\${var.marker_path}'",
    ]
  }
  provisioner "shell-local" {
    inline = [
      "rm -f '\${var.host_key_path}' '\${var.host_key_path}.pub'",
      "ssh-keygen -q -t ed25519 -N '' -C rebuilt -f '\${var.host_key_path}'",
      "echo new host key written",
    ]
  }
}
`,
  "broken.pkr.hcl": `${VARIABLES}
source "file" "x" {
  source = "/nonexistent/sandboxer-test-input"
  target = "out"
}
build { sources = ["source.file.x"] }
`,
  "slow.pkr.hcl": `${VARIABLES}
source "null" "local" { communicator = "none" }
build {
  sources = ["source.null.local"]
  provisioner "shell-local" { inline = ["echo sleeping", "sleep 300"] }
}
`,
};

describe("image builds with packer", () => {
  let vms: BuildVms;
  let t: VmTestManager;
  let configDir: string;

  beforeAll(async () => {
    // Packer's tunnel is a direct-tcpip channel to the VM's own sshd: the VM must allow local forwarding.
    vms = await startBuildVms({ vms: [{ name: "ib1", address: "127.0.0.1", sshdOptions: { AllowTcpForwarding: "local" } }] });
    configDir = fs.mkdtempSync(path.join(os.tmpdir(), "sandboxer-images-"));
    fs.mkdirSync(path.join(configDir, "images"));
    for (const [file, text] of Object.entries(TEMPLATES)) fs.writeFileSync(path.join(configDir, "images", file), text);
    const manifest = (name: string, extra = "") =>
      fs.writeFileSync(
        path.join(configDir, "images", `${name}.yaml`),
        `apiVersion: sandboxer.dev/v1\nname: ${name}\ntimeout: 5m\n${extra}`,
      );
    manifest("haskell", 'title: Haskell build VM\nvariables:\n  ghc_version: "9.6.4"\n');
    manifest("rekey", `variables:\n  host_key_path: ${JSON.stringify(vms.vm("ib1").hostKeyPath)}\n`);
    manifest("broken");
    manifest("slow");
    t = await createVmTestManager("sqlite", vms, {
      profiles: {
        pinned: { extension: "ext.vm-packer", params: { hostLabel: "test-vm" }, image: { name: "haskell", channel: "stable" } },
      },
      config: { healthIntervalMs: 3_600_000, minFreeBytes: 0, configDir, cancelPollMs: 100 },
    });
    await requestReconcile(t.manager, "host-ib1", t.admin);
    await t.newWorker().runUntilIdle(30_000);
  }, 90_000);

  afterAll(async () => {
    try {
      await t?.close();
    } finally {
      await stopBuildVms(vms);
      fs.rmSync(configDir, { recursive: true, force: true });
    }
  });

  async function runBuild(image: string, hostId?: string) {
    const b = await startImageBuild(t.manager, t.admin, { image, hostId });
    const w = t.newWorker();
    w.start();
    try {
      await expect
        .poll(async () => ["succeeded", "failed", "cancelled"].includes((await getImageBuild(t.manager, b.id)).state), {
          timeout: 60_000,
          interval: 100,
        })
        .toBe(true);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${(await imageBuildLog(t.manager, b.id)).map((l) => l.message).join("\n")}`);
    } finally {
      await w.stop();
    }
    return { build: await getImageBuild(t.manager, b.id), log: (await imageBuildLog(t.manager, b.id)).map((l) => l.message).join("\n") };
  }

  const host = () => t.db.buildHost.findUniqueOrThrow({ where: { id: "host-ib1" } });

  it("a profile pinned to a channel with no version waits, saying why", async () => {
    const w = t.newWorker();
    w.start();
    try {
      const s = await t.manager.createSandbox("profile.pinned", t.user);
      await expect
        .poll(async () => (await t.manager.getSandboxDetail(s.id)).queue?.reason ?? "", { timeout: 15_000, interval: 50 })
        .toContain('channel "stable", which points at no version yet');
      await t.manager.destroySandbox(s.id, t.user);
    } finally {
      await w.stop();
    }
  });

  it("a rebuild in place (null builder) goes through the verified tunnel, writes the marker; the host reports the new version", async () => {
    await expect(startImageBuild(t.manager, t.user, { image: "haskell", hostId: "host-ib1" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    const { build, log } = await runBuild("haskell", "host-ib1");
    expect(build, log).toMatchObject({ state: "succeeded", image: "haskell", version: "1", error: null, hostId: "host-ib1" });
    expect(build.templateHash).toMatch(/^[0-9a-f]{64}$/);
    expect(build.artifacts.length).toBeGreaterThan(0);
    expect(log).toContain("installing ghc 9.6.4");
    expect(log).toMatch(/Packer's SSH goes through 127\.0\.0\.1:\d+, forwarded over the verified connection/);
    const marker = JSON.parse(fs.readFileSync(markerPathOf(vms.vm("ib1")), "utf8")) as { name: string; version: string };
    expect(marker).toMatchObject({ name: "haskell", version: "1" });
    expect(await host()).toMatchObject({ imageName: "haskell", imageVersion: "1" });
    const [image] = (await listImages(t.manager)).filter((i) => i.name === "haskell");
    expect(image?.versions.map((v) => [v.version, v.hosts])).toEqual([["1", ["host-ib1"]]]);
    // The log rode on the team stream too: every stored line in a bounded `build.log` notice, then the end.
    const notices = await t.db.event.findMany({
      where: { type: "team", action: { in: ["build.log", "build.changed"] } },
      orderBy: { id: "asc" },
    });
    const mine = notices.filter((n) => (n.data as { buildId: string }).buildId === build.id);
    const streamed = mine.flatMap((n) => (n.action === "build.log" ? (n.data as { lines: { id: number }[] }).lines.map((l) => l.id) : []));
    expect(streamed).toEqual((await imageBuildLog(t.manager, build.id, 0, 5000)).map((l) => l.id));
    expect(mine.every((n) => JSON.stringify(n.data).length <= 4_096)).toBe(true);
    expect(mine.filter((n) => n.action === "build.changed").map((n) => (n.data as { state: string }).state)).toEqual([
      "running",
      "succeeded",
    ]);
    expect(mine.at(-1)?.action).toBe("build.changed");
  });

  it("a channel pointing at the version lets the pinned profile's create proceed; revoking it drains the host", async () => {
    await setChannel(t.manager, t.admin, "haskell", "stable", "1");
    const s = await t.manager.createSandbox("profile.pinned", t.user);
    await t.newWorker().runUntilIdle(30_000);
    expect((await t.manager.getSandbox(s.id)).status).toBe("ready");
    const drained = await revokeVersion(t.manager, t.admin, "haskell", "1", "broken ghc");
    expect(drained).toEqual(["host-ib1"]);
    expect(await host()).toMatchObject({ cordoned: true, cordonReason: "image haskell 1 revoked: broken ghc" });
    // The sandbox already there keeps running; a new one waits, saying why.
    expect((await t.manager.getSandbox(s.id)).status).toBe("ready");
    const next = await t.manager.createSandbox("profile.pinned", t.user);
    await t.newWorker().runUntilIdle(5_000);
    expect((await t.manager.getSandboxDetail(next.id)).queue?.reason).toMatch(/revoked/);
    for (const id of [s.id, next.id]) await t.manager.destroySandbox(id, t.user);
    await t.newWorker().runUntilIdle(30_000);
    await t.db.buildHost.update({ where: { id: "host-ib1" }, data: { cordoned: false, cordonReason: null, drainedAt: null } });
    expect(await t.db.event.count({ where: { type: "audit", action: "image.revoke" } })).toBe(1);
  });

  it("a failing build (file builder) is recorded with Packer's error and changes no host", async () => {
    const before = await host();
    const { build } = await runBuild("broken");
    expect(build.state).toBe("failed");
    expect(build.error).toContain("/nonexistent/sandboxer-test-input: no such file or directory");
    const after = await host();
    expect({ name: after.imageName, version: after.imageVersion, health: after.health }).toEqual({
      name: before.imageName,
      version: before.imageVersion,
      health: before.health,
    });
    expect((await listImages(t.manager)).find((i) => i.name === "broken")?.versions ?? []).toEqual([]);
  });

  it("cancel kills Packer", async () => {
    const b = await startImageBuild(t.manager, t.admin, { image: "slow" });
    const w = t.newWorker();
    w.start();
    try {
      let pid = 0;
      await expect
        .poll(
          async () => {
            const m = /packer build started \(pid (\d+)\)/.exec((await imageBuildLog(t.manager, b.id)).map((l) => l.message).join("\n"));
            pid = m ? Number(m[1]) : 0;
            return pid > 0 && (await imageBuildLog(t.manager, b.id)).some((l) => l.message.includes("sleeping"));
          },
          { timeout: 60_000, interval: 100 },
        )
        .toBe(true);
      await cancelImageBuild(t.manager, t.admin, b.id);
      await expect.poll(async () => (await getImageBuild(t.manager, b.id)).state, { timeout: 20_000, interval: 100 }).toBe("cancelled");
      const alive = () => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      };
      await expect.poll(alive, { timeout: 10_000, interval: 100 }).toBe(false);
    } finally {
      await w.stop();
    }
    await expect(cancelImageBuild(t.manager, t.admin, b.id)).rejects.toMatchObject({ code: "BUILD_NOT_RUNNING" });
  });

  it("a rebuild that changes the VM's host key hands the new key to an admin to confirm; the host is not left in key_changed", async () => {
    const vm = vms.vm("ib1");
    const pinned = (await host()).hostKey;
    const { build, log } = await runBuild("rekey", "host-ib1");
    expect(build.state, log).toBe("succeeded");
    const fresh = (await run(["ssh-keygen", "-lf", `${vm.hostKeyPath}.pub`, "-E", "sha256"])).stdout.split(/\s+/)[1]!;
    expect(fresh).not.toBe(pinned);
    expect(build, log).toMatchObject({ image: "rekey", offeredHostKey: fresh });
    expect(log).toContain("new host key written");
    expect(log).toContain(`now offers the host key ${fresh}: an admin must confirm it`);
    // Waiting for an admin, as after an add: nothing trusted, no sandboxes, and a check does not turn it into an alarm.
    const waiting = await host();
    expect(waiting).toMatchObject({ health: "unconfirmed", hostKey: pinned, offeredHostKey: fresh });
    expect(waiting.healthDetail).toContain(`Rebuilt in place by build ${build.id}`);
    await requestReconcile(t.manager, "host-ib1", t.admin);
    await t.newWorker().runUntilIdle(30_000);
    expect((await host()).health).toBe("unconfirmed");
    expect(await t.db.event.count({ where: { type: "audit", action: "host.rebuilt_key", target: "host-ib1" } })).toBe(1);
    // A wrong fingerprint is refused; the one read on the VM is pinned, and the check reads the build's marker.
    await expect(confirmHostKey(t.manager, t.admin, "host-ib1", pinned)).rejects.toMatchObject({ code: "KEY_MISMATCH" });
    await confirmHostKey(t.manager, t.admin, "host-ib1", fresh);
    await t.newWorker().runUntilIdle(30_000);
    expect(await host()).toMatchObject({ health: "healthy", hostKey: fresh, imageName: "rekey", imageVersion: build.version });
  });

  it("a VM whose host key changed: the build stops before any provisioner runs; the marker is untouched", async () => {
    const markerBefore = fs.readFileSync(markerPathOf(vms.vm("ib1")), "utf8");
    const rebuilt = await restartVm(vms.vm("ib1"), { newHostKey: true });
    const { build, log } = await runBuild("haskell", "host-ib1");
    expect(build.state).toBe("failed");
    expect(build.error).toContain(rebuilt.hostKeyFingerprint);
    expect(build.error).toContain("before Packer started");
    expect(log).not.toContain("packer build started");
    expect(log).not.toContain("installing ghc");
    expect(fs.readFileSync(markerPathOf(vms.vm("ib1")), "utf8")).toBe(markerBefore);
    // The admin confirms the new key the usual way; the host is usable again.
    await requestReconcile(t.manager, "host-ib1", t.admin);
    await t.newWorker().runUntilIdle(30_000);
    await confirmHostKey(t.manager, t.admin, "host-ib1", rebuilt.hostKeyFingerprint);
    await t.newWorker().runUntilIdle(30_000);
    expect((await host()).health).toBe("healthy");
    void waitForStatus;
  });
});
