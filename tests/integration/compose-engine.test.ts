// ext.compose-ssh against a REAL Docker engine (tests/support/docker-engine.ts: a private dockerd with
// its own data root and socket, and an image made offline from busybox-static), through the manager,
// over real OpenSSH build VMs on loopback. The build user runs Debian's `docker-compose` 1.29 (v1) —
// the `docker compose` v2 plugin is not packaged here, so `auto` finds v1 — and the `docker` client
// first on its PATH. The v2 command shapes are pinned by the stand-in tests (compose-ssh.test.ts).
//
// Two VMs: docker1's sshd sets DOCKER_HOST to the private engine for every session (a host whose
// build user's environment names its daemon), docker2 sets nothing (the default socket has no daemon),
// so only the profile's dockerHost reaches the engine from there. Every service uses host networking
// bound to 127.0.0.1 and `init: true`. The web service is reached the way a person reaches it: `ssh -L`
// through sand-boxer's SSH gateway to the VM's loopback.
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { ComposeSshHandle } from "@/lib/extensions/compose-ssh/extension";
import { SshGateway } from "@/lib/gateway/gateway";
import { loadGatewayHostKey } from "@/lib/gateway/host-key";
import { createLogger } from "@/lib/logger";
import { adoptOrphan, listOrphans, requestReconcile } from "@/lib/manager/host-ops";
import { checkProfile } from "@/lib/manager/profile-check";
import { sandboxServices } from "@/lib/manager/services";
import { addSshKey } from "@/lib/manager/ssh-keys";
import { newSandboxId } from "@/lib/sandbox-id";

import { freeLoopbackPort, processRunning, runAs, startBuildVms, stopBuildVms, type BuildVm, type BuildVms } from "../support/build-vms";
import { startDockerEngine, TEST_IMAGE, type DockerEngine } from "../support/docker-engine";
import { strictSshOptions } from "../support/ssh-client";
import { createVmTestManager, hostEntryFor, type VmTestManager } from "../support/vm-harness";

const service = (name: string, command: string[], extra = "") =>
  `  ${name}:\n    image: ${TEST_IMAGE}\n    init: true\n    network_mode: host\n    command: ${JSON.stringify(command)}\n${extra}`;

// httpd answers on 127.0.0.1:${WEB_PORT} with /www/index.html; a named volume to see `down --volumes` work.
const WEB = `services:\n${service("web", ["httpd", "-f", "-p", "127.0.0.1:${WEB_PORT}", "-h", "/www"], "    volumes: [data:/data]\n")}volumes:\n  data: {}\n`;
// A service that fails at once, saying why, beside one that keeps running. Both lines go to stderr: docker
// timestamps each stream's lines as it reads them, so two lines written microseconds apart on stdout and
// stderr may come back in either order (the extension orders by those timestamps; nothing can do better).
const FAILING = `services:\n${service("worker", ["sh", "-c", "echo starting worker >&2; echo 'worker: /etc/worker.conf is missing' >&2; exit 3"])}${service("idle", ["sleep", "3600"])}`;
// `up -d` waits for a health check that never passes: an up that takes as long as we like.
const SLOW = `services:\n${service("db", ["sleep", "3600"], "    healthcheck:\n      test: ['CMD', 'false']\n      interval: 1s\n      retries: 600\n")}${service("app", ["sleep", "3600"], "    depends_on:\n      db:\n        condition: service_healthy\n")}`;
const IDLE = `services:\n${service("idle", ["sleep", "3600"], "    volumes: [state:/state]\n")}volumes:\n  state: {}\n`;

describe("ext.compose-ssh on a real docker engine (docker-compose v1)", () => {
  let engine: DockerEngine;
  let vms: BuildVms;
  let vm1: BuildVm;
  let t: VmTestManager;
  let webPort: number;

  const project = (id: string) => `sbx-${id}`;
  const workspace = (vm: BuildVm, id: string) => path.join(vm.workspaceRoot, `sbx-${id}`);
  const label = (p: string) => `label=com.docker.compose.project=${p}`;

  /** Whatever of a project is on the engine: containers, networks, volumes. */
  async function leftOf(p: string) {
    const list = async (args: string[]) => (await engine.mustDocker(args)).split("\n").filter(Boolean);
    return {
      containers: await list(["ps", "-a", "-q", "--filter", label(p)]),
      networks: await list(["network", "ls", "-q", "--filter", label(p)]),
      volumes: await list(["volume", "ls", "-q", "--filter", label(p)]),
    };
  }
  const nothing = { containers: [], networks: [], volumes: [] };

  async function createAndWait(profile: string) {
    const s = await t.manager.createSandbox(profile, t.user);
    await t.newWorker().runUntilIdle(120_000);
    return t.manager.getSandbox(s.id);
  }
  async function destroyAndWait(id: string, actor = t.user) {
    await t.manager.destroySandbox(id, actor);
    await t.newWorker().runUntilIdle(120_000);
    return t.manager.getSandbox(id);
  }
  async function storedHandle(id: string): Promise<ComposeSshHandle> {
    const ext = t.manager.extension("ext.compose-ssh")!;
    return ext.handleSchema.parse((await t.db.sandbox.findUniqueOrThrow({ where: { id } })).handle) as ComposeSshHandle;
  }
  async function status(id: string) {
    const ext = t.manager.extension("ext.compose-ssh")!;
    return ext.status(await storedHandle(id), { sandboxId: id, signal: new AbortController().signal, log: () => {} });
  }
  async function logOf(id: string): Promise<string[]> {
    return (await t.manager.sandboxEvents(id)).map((e) => e.message);
  }
  async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await probe();
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  beforeAll(async () => {
    engine = await startDockerEngine();
    vms = await startBuildVms({
      vms: [
        // AllowTcpForwarding local: what `ssh -L` through the gateway needs on the VM.
        { name: "docker1", address: "127.0.0.1", sshdOptions: { SetEnv: `DOCKER_HOST=${engine.dockerHost}`, AllowTcpForwarding: "local" } },
        { name: "docker2", address: "127.0.0.1" },
      ],
    });
    vm1 = vms.vm("docker1");
    webPort = await freeLoopbackPort();
    const compose = (content: string, extra: Record<string, unknown> = {}) => ({
      extension: "ext.compose-ssh",
      params: { host: "host-docker1", composeFiles: [{ name: "compose.yaml", content }], ...extra },
    });
    t = await createVmTestManager("sqlite", vms, {
      config: { createTimeoutMs: 120_000, healthIntervalMs: 3_600_000 },
      hosts: [hostEntryFor(vm1, { labels: ["docker"] }), hostEntryFor(vms.vm("docker2"))],
      profiles: {
        web: compose(WEB, { env: { WEB_PORT: webPort } }),
        failing: compose(FAILING),
        slow: compose(SLOW, { upTimeoutSeconds: 300 }),
        idle: compose(IDLE),
        "via-docker-host": { ...compose(IDLE), params: { ...compose(IDLE).params, host: "host-docker2", dockerHost: engine.dockerHost } },
        "no-docker-host": { ...compose(IDLE), params: { ...compose(IDLE).params, host: "host-docker2" } },
      },
    });
  }, 180_000);

  afterAll(async () => {
    try {
      await t?.close();
    } finally {
      try {
        await stopBuildVms(vms);
      } finally {
        await engine?.stop();
      }
    }
  }, 120_000);

  it("up with v1 found by the probe: a service answers HTTP on its loopback port, reached with ssh -L through the gateway; status ready per service; destroy leaves nothing of the project", async () => {
    const check = await checkProfile({ db: t.db, catalog: t.manager.catalog }, "profile.web");
    expect(check.ok, JSON.stringify(check.targets)).toBe(true);
    expect(check.targets[0]?.requirements.find((r) => r.name === "docker compose")?.reason).toMatch(
      /^docker-compose 1\.\d+\.\d+ with docker engine \S+ on 127\.0\.0\.1:\d+$/,
    );

    const ready = await createAndWait("profile.web");
    expect(ready.status, ready.statusReason ?? "").toBe("ready");
    const id = ready.id;
    const handle = await storedHandle(id);
    expect(handle).toMatchObject({ compose_command: "v1", compose_services: ["web"], compose_files: ["compose.yaml"], docker_host: null });
    const log = await logOf(id);
    expect(log.some((l) => /^Using docker-compose \(found\) with docker engine \S+ on /.test(l))).toBe(true);
    expect(log).toContain(
      `Starting compose project ${project(id)} in ${workspace(vm1, id)}: docker-compose -p ${project(id)} -f compose.yaml --env-file .sandboxer.env up -d`,
    );

    // Through the gateway, as a person would: `ssh -L <local>:localhost:<web port> <id>@gateway`.
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-compose-gw-"));
    const hostKey = loadGatewayHostKey({ dataDir: scratch });
    const gateway = new SshGateway({
      db: t.db,
      ssh: t.manager.ssh!,
      logger: createLogger("silent"),
      hostKey,
      listen: { host: "127.0.0.1", port: 0 },
    });
    await gateway.start();
    const key = path.join(scratch, "id");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
    await addSshKey(t.manager, t.user, { publicKey: fs.readFileSync(`${key}.pub`, "utf8") });
    const knownHosts = path.join(scratch, "known_hosts");
    fs.writeFileSync(knownHosts, `[127.0.0.1]:${gateway.port} ${hostKey.publicKeyLine}\n`);
    const local = await freeLoopbackPort();
    const tunnel = spawn(
      "ssh",
      [
        ...strictSshOptions(key, knownHosts),
        ...["-o", "ExitOnForwardFailure=yes", "-N", "-L", `${local}:localhost:${webPort}`],
        ...["-p", String(gateway.port), `${id}@127.0.0.1`],
      ],
      { stdio: "ignore" },
    );
    try {
      await expect
        .poll(
          () =>
            fetch(`http://127.0.0.1:${local}/`).then(
              (r) => r.text(),
              () => "",
            ),
          { timeout: 20_000, interval: 100 },
        )
        .toBe("sand-boxer test page\n");
    } finally {
      tunnel.kill();
      await gateway.stop("test over");
      fs.rmSync(scratch, { recursive: true, force: true });
    }

    const st = await status(id);
    expect(st.state, st.detail).toBe("ready");
    expect(st.services).toEqual([
      { name: "web", container: `${project(id)}_web_1`, state: "running", condition: "up", health: null, ports: [] },
    ]);
    const before = await leftOf(project(id));
    expect(before.containers).toHaveLength(1);
    expect(before.volumes).toHaveLength(1);

    const destroyed = await destroyAndWait(id);
    expect(destroyed.status, destroyed.statusReason ?? "").toBe("destroyed");
    expect(destroyed.statusReason).toBe(
      `Stopped and removed compose project ${project(id)} (1 container, 0 networks, 1 volume); removed ${workspace(vm1, id)} on 127.0.0.1:${vm1.port}`,
    );
    expect(await sandboxServices(t.manager, id)).toMatchObject({
      health: null,
      services: null,
      detail: `Sandbox ${id} is destroyed: nothing to ask its host`,
    });
    expect(await leftOf(project(id))).toEqual(nothing);
    expect(fs.existsSync(workspace(vm1, id))).toBe(false);
    await expect(fetch(`http://127.0.0.1:${webPort}/`)).rejects.toThrow();
  });

  it("a service that exits shows as failed with its last log lines", async () => {
    const s = await createAndWait("profile.failing");
    // `up -d` succeeded: the sandbox is ready, and says at once what did not start.
    expect(s.status, s.statusReason ?? "").toBe("ready");
    const id = s.id;
    const st = await until("the worker to have exited", async () => {
      const r = await status(id);
      return r.services?.find((x) => x.name === "worker")?.condition === "failed" ? r : null;
    });
    expect(st.state).toBe("degraded");
    expect(st.services).toEqual([
      { name: "idle", container: `${project(id)}_idle_1`, state: "running", condition: "up", health: null, ports: [] },
      {
        name: "worker",
        container: `${project(id)}_worker_1`,
        state: "failed (exit code 3)",
        condition: "failed",
        health: null,
        ports: [],
        logTail: ["starting worker", "worker: /etc/worker.conf is missing"],
      },
    ]);
    expect(st.detail).toContain(`not running: worker (${project(id)}_worker_1): failed (exit code 3)`);
    expect(st.detail).toContain("worker's last lines: starting worker ⏎ worker: /etc/worker.conf is missing");
    // What the sandbox page's Services card shows (GET /api/v1/sandboxes/{id}/services).
    const view = await sandboxServices(t.manager, id);
    expect(view).toMatchObject({ sandboxId: id, health: "degraded", services: st.services });
    expect(view.detail).toContain("failed (exit code 3)");
    expect((await destroyAndWait(id)).status).toBe("destroyed");
    expect(await leftOf(project(id))).toEqual(nothing);
  });

  it("destroy leaves no container, volume or network of the project — also one left by hand, and with the workspace removed — and a neighbour project survives", async () => {
    const a = await createAndWait("profile.idle");
    const b = await createAndWait("profile.idle");
    for (const s of [a, b]) expect(s.status, s.statusReason ?? "").toBe("ready");
    // Something of a's project that its compose file does not declare (an interrupted run, a person).
    await engine.mustDocker([
      "network",
      "create",
      "--internal",
      "--label",
      `com.docker.compose.project=${project(a.id)}`,
      `${project(a.id)}_extra`,
    ]);
    await engine.mustDocker(["volume", "create", "--label", `com.docker.compose.project=${project(a.id)}`, `${project(a.id)}_extra`]);
    const neighbour = await leftOf(project(b.id));

    const da = await destroyAndWait(a.id);
    expect(da.status, da.statusReason ?? "").toBe("destroyed");
    expect(da.statusReason).toContain(`Stopped and removed compose project ${project(a.id)} (1 container, 1 network, 2 volumes)`);
    expect(await leftOf(project(a.id))).toEqual(nothing);
    expect(await leftOf(project(b.id))).toEqual(neighbour);
    expect((await status(b.id)).state).toBe("ready");

    // b's workspace is removed by hand: v1's down cannot run without its file, the label sweep does it.
    fs.rmSync(workspace(vm1, b.id), { recursive: true });
    const db = await destroyAndWait(b.id);
    expect(db.status, db.statusReason ?? "").toBe("destroyed");
    expect(db.statusReason).toBe(
      `Stopped and removed compose project ${project(b.id)} (1 container, 0 networks, 1 volume); ${workspace(vm1, b.id)} was already gone on 127.0.0.1:${vm1.port}`,
    );
    expect(await logOf(b.id)).toContain(
      `The compose files of ${project(b.id)} are not in ${workspace(vm1, b.id)}; removing its containers, networks and volumes by the label ${project(b.id)}`,
    );
    expect(await leftOf(project(b.id))).toEqual(nothing);
  });

  it("destroy during a slow `up` stops it and removes what it had started", async () => {
    const s = await t.manager.createSandbox("profile.slow", t.user);
    const id = s.id;
    const creating = t.newWorker().runUntilIdle(120_000);
    // up has created the db container and waits for its health check, which never passes.
    await until("the db container", async () => (await leftOf(project(id))).containers.length > 0);
    expect(await processRunning(`docker-compose -p ${project(id)}`)).toBe(true);
    await t.manager.destroySandbox(id, t.user);
    await creating;
    await t.newWorker().runUntilIdle(120_000);
    const destroyed = await t.manager.getSandbox(id);
    expect(destroyed.status, destroyed.statusReason ?? "").toBe("destroyed");
    expect(await leftOf(project(id))).toEqual(nothing);
    expect(fs.existsSync(workspace(vm1, id))).toBe(false);
    expect(await processRunning(`docker-compose -p ${project(id)}`), "the remote up was not stopped").toBe(false);
  });

  it("the reconciler finds compose projects no sandbox records; adopting one makes it a compose sandbox that destroys like any", async () => {
    // Two projects started by hand as the build user: one from a workspace under the root, one from elsewhere.
    const inRoot = newSandboxId();
    const elsewhere = newSandboxId();
    const dirs = { [inRoot]: workspace(vm1, inRoot), [elsewhere]: path.join(vms.stateDir, `hand-${elsewhere}`) };
    for (const [id, dir] of Object.entries(dirs)) {
      await runAs("root", ["install", "-d", "-m", "0755", "-o", vms.user, "-g", vms.user, dir]);
      await runAs(vms.user, ["sh", "-c", 'printf %s "$2" > "$1/compose.yaml"', "sh", dir, IDLE]);
      const up = await runAs(vms.user, ["env", `DOCKER_HOST=${engine.dockerHost}`, "docker-compose", "-p", project(id), "up", "-d"], {
        cwd: dir,
        timeoutMs: 60_000,
      });
      expect(up.code, up.stderr).toBe(0);
    }
    await requestReconcile(t.manager, "host-docker1", t.admin);
    await t.newWorker().runUntilIdle(60_000);
    const orphans = await listOrphans(t.manager);
    const byName = new Map(orphans.map((o) => [o.name, o]));
    expect(byName.get(project(inRoot))).toMatchObject({ path: workspace(vm1, inRoot), extensionId: "ext.compose-ssh" });
    expect(byName.get(project(elsewhere))).toMatchObject({ path: workspace(vm1, elsewhere), extensionId: "ext.compose-ssh" });

    for (const id of [inRoot, elsewhere]) {
      const adopted = await adoptOrphan(t.manager, t.admin, byName.get(project(id))!.id);
      expect(adopted).toBe(id);
      const s = await t.manager.getSandbox(id);
      expect(s.status).toBe("ready");
      expect(s.extensionId).toBe("ext.compose-ssh");
      // Files from the project's labels when compose ran them from the workspace; none otherwise.
      expect(await storedHandle(id)).toMatchObject({
        compose_project: project(id),
        compose_command: "v1",
        compose_services: ["idle"],
        compose_files: id === inRoot ? ["compose.yaml"] : [],
      });
      expect((await status(id)).state).toBe(id === inRoot ? "ready" : "degraded");
      // Adopted sandboxes belong to the admin who adopted them.
      const destroyed = await destroyAndWait(id, t.admin);
      expect(destroyed.status, destroyed.statusReason ?? "").toBe("destroyed");
      expect(await leftOf(project(id))).toEqual(nothing);
    }
    expect(fs.existsSync(workspace(vm1, inRoot))).toBe(false);
    // Not ours to remove: the directory outside the roots stays.
    expect(fs.existsSync(path.join(dirs[elsewhere]!, "compose.yaml"))).toBe(true);
  });

  it("dockerHost reaches a daemon the host's default does not: without it check and create say so; with it the sandbox works", async () => {
    const check = await checkProfile({ db: t.db, catalog: t.manager.catalog }, "profile.no-docker-host");
    const req = check.targets[0]?.requirements.find((r) => r.name === "docker compose");
    expect(req?.met).toBe(false);
    expect(req?.reason).toContain(`the docker engine does not answer ${vms.user} on 127.0.0.1:${vms.vm("docker2").port}`);
    const failed = await createAndWait("profile.no-docker-host");
    expect(failed.status).toBe("failed");
    expect(failed.statusReason).toContain("the docker engine does not answer");
    expect(failed.statusReason).toContain("Nothing was created.");

    const ready = await createAndWait("profile.via-docker-host");
    expect(ready.status, ready.statusReason ?? "").toBe("ready");
    expect(await storedHandle(ready.id)).toMatchObject({ docker_host: engine.dockerHost, compose_command: "v1" });
    expect(ready.handle?.teardown[0]).toBe(
      `docker-compose project ${project(ready.id)} (containers, networks and volumes) on 127.0.0.1:${vms.vm("docker2").port} (DOCKER_HOST=${engine.dockerHost})`,
    );
    expect((await leftOf(project(ready.id))).containers).toHaveLength(1);
    expect((await destroyAndWait(ready.id)).status).toBe("destroyed");
    expect(await leftOf(project(ready.id))).toEqual(nothing);
  });
});
