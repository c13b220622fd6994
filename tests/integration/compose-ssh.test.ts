// ext.compose-ssh through the manager, over real OpenSSH (a loopback build VM) and real rsync, against
// a STAND-IN docker placed first on the build user's PATH (tests/support/stand-in-docker.ts) — no
// Docker engine runs in this file (tests/integration/compose-engine.test.ts runs a real one). The
// stand-in answers like the `docker compose` v2 plugin and records every docker call with its working
// directory, so these tests pin the exact v2 command shapes, in order, with their quoting intact, and
// the reading of published ports (the real-engine tests use host networking, which publishes none).
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";

import type { ComposeSshHandle } from "@/lib/extensions/compose-ssh/extension";

import { processRunning, stopBuildVms, startBuildVms, type BuildVm, type BuildVms } from "../support/build-vms";
import { checkProfile } from "@/lib/manager/profile-check";

import { createStandInDocker, type StandInCall, type StandInDocker } from "../support/stand-in-docker";
import { createVmTestManager, hostEntryFor, type VmTestManager } from "../support/vm-harness";

const COMPOSE = `services:
  web:
    image: traefik/whoami:v1.10
    environment:
      GREETING: "\${GREETING}"
    ports:
      - "\${WEB_PORT:-8080}:80"
  redis:
    image: redis:7-alpine
`;

// Spaces, both quotes and a command substitution: any shell that saw these unquoted would split
// them, strip the quotes or run `id`; the stand-in must see them byte for byte.
const ODD_NAME = `web "edge" $(id) 'v1'.yaml`;
const ENV_FILE = ".sandboxer.env";

describe("ext.compose-ssh on a real build VM with a stand-in docker", () => {
  let docker: StandInDocker;
  let vms: BuildVms;
  let vm: BuildVm;
  let t: VmTestManager;
  let repo: string;
  let canary: string;
  let oddValue: string;

  const project = (id: string) => `sbx-${id}`;
  const workspace = (id: string) => path.join(vm.workspaceRoot, `sbx-${id}`);
  const home = () => `/home/${vms.user}`;
  const filter = (id: string) => `label=com.docker.compose.project=${project(id)}`;
  const call = (...argv: string[]): StandInCall => ({ argv, cwd: home() });
  const sha = (s: string) => createHash("sha256").update(s).digest("hex");
  const containerIds = (id: string, services: string[]) => services.map((s) => sha(`${project(id)}-${s}-1`));
  // create's probe: the engine answers, and the compose plugin.
  const probe = (): StandInCall[] => [call("version", "--format", "{{.Server.Version}}"), call("compose", "version", "--short")];
  // status and create's listing: the project's containers by label, then docker inspect of them.
  const list = (id: string, services: string[]): StandInCall[] => [
    call("ps", "-a", "-q", "--no-trunc", "--filter", filter(id)),
    ...(services.length ? [call("inspect", ...containerIds(id, services))] : []),
  ];
  // destroy's first look: what carries the project's label (three listings at once).
  const resources = (id: string): StandInCall[] => [
    call("ps", "-a", "-q", "--no-trunc", "--filter", filter(id)),
    call("network", "ls", "-q", "--no-trunc", "--filter", filter(id)),
    call("volume", "ls", "-q", "--filter", filter(id)),
  ];
  // The sweep after `down` (or instead of it): lists as above, removes what still carries the label…
  const sweep = (id: string, left: { services?: string[]; network?: boolean } = {}): StandInCall[] => [
    ...resources(id),
    ...(left.services?.length ? [call("rm", "-f", "-v", ...containerIds(id, left.services))] : []),
    ...(left.network ? [call("network", "rm", sha(`network:${project(id)}`))] : []),
    // …and looks again only when it removed something.
    ...(left.services?.length || left.network
      ? [
          call("ps", "-a", "-q", "--filter", filter(id)),
          call("network", "ls", "-q", "--filter", filter(id)),
          call("volume", "ls", "-q", "--filter", filter(id)),
        ]
      : []),
  ];
  // Listings that run at once reach the stand-in in any order: each run of consecutive listing calls is
  // compared as a set (sorted on both sides); every other call keeps its exact place.
  const isListing = (c: StandInCall) => c.argv[0] === "ps" || (c.argv[1] === "ls" && (c.argv[0] === "network" || c.argv[0] === "volume"));
  const listingsSorted = (calls: StandInCall[]): StandInCall[] => {
    const out: StandInCall[] = [];
    for (let i = 0; i < calls.length; ) {
      let j = i;
      while (j < calls.length && isListing(calls[j]!)) j++;
      if (j === i) out.push(calls[i++]!);
      else {
        out.push(...calls.slice(i, j).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))));
        i = j;
      }
    }
    return out;
  };
  const expectCalls = (expected: StandInCall[]) => expect(listingsSorted(docker.calls())).toEqual(listingsSorted(expected));

  async function createAndWait(profile: string) {
    const s = await t.manager.createSandbox(profile, t.user);
    await t.newWorker().runUntilIdle(60_000);
    return t.manager.getSandbox(s.id);
  }

  async function destroyAndWait(id: string) {
    await t.manager.destroySandbox(id, t.user);
    await t.newWorker().runUntilIdle(60_000);
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

  beforeAll(async () => {
    docker = await createStandInDocker();
    vms = await startBuildVms({ vms: [{ name: "docker1", address: "127.0.0.1", sshdOptions: docker.sshdOptions }] });
    vm = vms.vm("docker1");
    canary = path.join(vms.stateDir, "quoting-canary");
    oddValue = `hello "world" $(touch ${canary}) \`touch ${canary}\` #not-a-comment; a & b | c`;

    // A checkout on the sand-boxer server whose compose files live in deploy/.
    repo = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-compose-repo-"));
    fs.mkdirSync(path.join(repo, "deploy"));
    fs.writeFileSync(
      path.join(repo, "deploy", "compose.yaml"),
      'services:\n  api:\n    image: example/api:1\n    ports:\n      - "18081:8000"\n',
    );
    fs.writeFileSync(path.join(repo, "deploy", "compose.override.yaml"), "services:\n  worker:\n    image: example/worker:1\n");
    fs.writeFileSync(path.join(repo, ".gitignore"), "local.env\n");
    fs.writeFileSync(path.join(repo, "local.env"), "ignored\n");

    // The stand-in speaks v2 only: its profiles name v2 (auto would find this machine's real docker-compose).
    const compose = (extra: Record<string, unknown>) => ({
      extension: "ext.compose-ssh",
      params: { hostLabel: "docker", composeCommand: "v2", ...extra },
    });
    t = await createVmTestManager("sqlite", vms, {
      config: { createTimeoutMs: 60_000 },
      hosts: [hostEntryFor(vm, { labels: ["docker"] })],
      profiles: {
        "compose-odd": compose({ composeFiles: [{ name: ODD_NAME, content: COMPOSE }], env: { WEB_PORT: 18080, GREETING: oddValue } }),
        "compose-plain": compose({ composeFiles: [{ name: "compose.yaml", content: COMPOSE }] }),
        "compose-repo": compose({ repository: { path: repo }, composeFilePaths: ["deploy/compose.yaml", "deploy/compose.override.yaml"] }),
        "compose-slow": compose({ composeFiles: [{ name: "compose.yaml", content: COMPOSE }], upTimeoutSeconds: 5 }),
        "compose-repo-missing": compose({ repository: { path: repo }, composeFilePaths: ["deploy/missing.yaml"] }),
      },
    });
  }, 120_000);

  afterAll(async () => {
    try {
      await t?.close();
    } finally {
      await stopBuildVms(vms);
    }
    docker?.remove();
    if (repo) fs.rmSync(repo, { recursive: true, force: true });
  });

  beforeEach(() => {
    for (const c of ["fail-up", "fail-down", "fail-ps", "no-compose", "no-daemon", "service-exited:redis", "up-seconds"])
      docker.control(c, null);
    docker.clearCalls();
  });

  it("create probes, runs exactly `up -d` in the workspace, lists by label; status ready/degraded/missing; destroy runs `down`, sweeps the label, removes the workspace", async () => {
    const ready = await createAndWait("profile.compose-odd");
    expect(ready.status, ready.statusReason ?? "").toBe("ready");
    const id = ready.id;
    const ws = workspace(id);
    const env = { WEB_PORT: "18080", GREETING: oddValue };
    expectCalls([
      ...probe(),
      { argv: ["compose", "-p", project(id), "-f", ODD_NAME, "--env-file", ENV_FILE, "up", "-d"], cwd: ws, envFile: env },
      ...list(id, ["redis", "web"]),
    ]);
    // The files hold exactly what the profile gave; the env file is the build user's alone.
    expect(fs.readFileSync(path.join(ws, ODD_NAME), "utf8")).toBe(COMPOSE);
    expect(fs.readFileSync(path.join(ws, ENV_FILE), "utf8")).toBe(
      `# Written by sand-boxer for compose's interpolation; values are single-quoted, so taken literally.\nWEB_PORT='18080'\nGREETING='${oddValue}'\n`,
    );
    expect(fs.statSync(path.join(ws, ENV_FILE)).mode & 0o777).toBe(0o600);
    expect(fs.statSync(ws).mode & 0o777, "workspace mode (0700 unless the profile sets workspaceMode)").toBe(0o700);
    expect(fs.existsSync(canary)).toBe(false);
    expect(docker.project(project(id))).toMatchObject({ state: "running", workingDir: ws, env });

    expect((await t.db.sandbox.findUniqueOrThrow({ where: { id } })).handle).toEqual({
      extension: "ext.compose-ssh",
      host_id: "host-docker1",
      vm_target: vm.host,
      ssh_port: vm.port,
      ssh_user: vms.user,
      workspace_root: vm.workspaceRoot,
      workspace_path: ws,
      host_key: vm.hostKeyFingerprint,
      compose_project: project(id),
      compose_files: [ODD_NAME],
      compose_env_file: ENV_FILE,
      compose_services: ["redis", "web"],
      compose_command: "v2",
      docker_host: null,
    });
    expect(ready.handle?.teardown).toEqual([
      `docker compose project ${project(id)} (containers, networks and volumes) on ${vm.host}:${vm.port}`,
      `directory ${ws} on ${vm.host}:${vm.port} (host-docker1)`,
    ]);
    const log = await logOf(id);
    // compose's own progress, streamed line by line, then the services with their published ports.
    expect(log).toContain(`Container ${project(id)}-web-1  Started`);
    expect(log).toContain("Using docker compose 2.29.7-stand-in with docker engine 20.10.24-stand-in on " + `${vm.host}:${vm.port}`);
    expect(log).toContain(`web (${project(id)}-web-1): running; published 0.0.0.0:18080→80/tcp, [::]:18080→80/tcp`);
    expect(log).toContain(`redis (${project(id)}-redis-1): running`);
    expect(log).toContain(`Compose project ${project(id)} is up on ${vm.host}:${vm.port}: 2 services running (redis, web)`);
    expect(log.join("\n")).not.toContain(oddValue);

    let st = await status(id);
    expect(st.state, st.detail).toBe("ready");
    expect(st.detail).toContain("2 services running (redis, web)");
    expect(st.detail).toContain("web 0.0.0.0:18080→80/tcp");
    expect(st.freeBytes).toBeGreaterThan(0);
    expect(st.services).toEqual([
      { name: "redis", container: `${project(id)}-redis-1`, state: "running", condition: "up", health: null, ports: [] },
      {
        name: "web",
        container: `${project(id)}-web-1`,
        state: "running",
        condition: "up",
        health: null,
        ports: ["0.0.0.0:18080→80/tcp", "[::]:18080→80/tcp"],
      },
    ]);
    docker.control("service-exited:redis", true);
    st = await status(id);
    expect(st.state).toBe("degraded");
    expect(st.detail).toContain(`not running: redis (${project(id)}-redis-1): failed (exit code 1)`);
    expect(st.detail).toContain("redis's last lines: stand-in redis: starting ⏎ stand-in redis: fatal: could not start, exiting with 1");
    expect(st.detail).toContain("running: web");
    expect(st.services?.[0]).toMatchObject({ name: "redis", state: "failed (exit code 1)", condition: "failed" });
    expect(st.services?.[0]?.logTail).toEqual(["stand-in redis: starting", "stand-in redis: fatal: could not start, exiting with 1"]);
    docker.control("service-exited:redis", null);
    docker.control("fail-ps", true);
    st = await status(id);
    expect(st.state).toBe("unknown");
    expect(st.detail).toContain("Cannot connect to the Docker daemon");
    docker.control("fail-ps", null);

    docker.clearCalls();
    const destroyed = await destroyAndWait(id);
    expect(destroyed.status, destroyed.statusReason ?? "").toBe("destroyed");
    expectCalls([
      ...resources(id),
      {
        argv: ["compose", "-p", project(id), "-f", ODD_NAME, "--env-file", ENV_FILE, "down", "--volumes", "--remove-orphans"],
        cwd: ws,
        envFile: env,
      },
      ...sweep(id),
    ]);
    expect(fs.existsSync(ws)).toBe(false);
    expect(docker.project(project(id))).toBeNull();
    const after = await logOf(id);
    const stopped = after.indexOf(`Container ${project(id)}-web-1  Removed`);
    const removed = after.findIndex((l) => l.includes(`removed ${ws}`));
    expect(stopped).toBeGreaterThan(-1);
    expect(removed, "the workspace is removed after down").toBeGreaterThan(stopped);
    expect(after[removed]).toBe(
      `Stopped and removed compose project ${project(id)} (2 containers, 1 network, 0 volumes); removed ${ws} on ${vm.host}:${vm.port}`,
    );
    expect((await status(id)).state).toBe("missing");

    // Again: the manager keeps it destroyed; the extension itself says "absent", finding nothing by label.
    docker.clearCalls();
    expect((await destroyAndWait(id)).status).toBe("destroyed");
    const ext = t.manager.extension("ext.compose-ssh")!;
    const again = await ext.destroy(await storedHandle(id), { sandboxId: id, signal: new AbortController().signal, log: () => {} });
    expect(again).toEqual({
      result: "absent",
      detail: `Compose project ${project(id)} had nothing left (no container, network or volume); ${ws} was already gone on ${vm.host}:${vm.port}`,
    });
    expectCalls(resources(id));
    expect(fs.existsSync(canary)).toBe(false);
  });

  it("syncs a repository and runs its compose files (with -f per path, no env file)", async () => {
    const ready = await createAndWait("profile.compose-repo");
    expect(ready.status, ready.statusReason ?? "").toBe("ready");
    const id = ready.id;
    const ws = workspace(id);
    const files = ["-f", "deploy/compose.yaml", "-f", "deploy/compose.override.yaml"];
    expectCalls([...probe(), { argv: ["compose", "-p", project(id), ...files, "up", "-d"], cwd: ws }, ...list(id, ["api", "worker"])]);
    expect(fs.readFileSync(path.join(ws, "deploy", "compose.yaml"), "utf8")).toBe(
      fs.readFileSync(path.join(repo, "deploy", "compose.yaml"), "utf8"),
    );
    expect(fs.existsSync(path.join(ws, "local.env")), ".gitignore is respected").toBe(false);
    expect(fs.existsSync(path.join(ws, ENV_FILE))).toBe(false);
    const log = await logOf(id);
    expect(log.some((l) => /^Synced \d+ entries/.test(l))).toBe(true);
    expect(log).toContain(`api (${project(id)}-api-1): running; published 0.0.0.0:18081→8000/tcp, [::]:18081→8000/tcp`);
    expect(log).toContain(`worker (${project(id)}-worker-1): running`);
    expect((await storedHandle(id)).compose_services).toEqual(["api", "worker"]);

    docker.clearCalls();
    expect((await destroyAndWait(id)).status).toBe("destroyed");
    expectCalls([
      ...resources(id),
      { argv: ["compose", "-p", project(id), ...files, "down", "--volumes", "--remove-orphans"], cwd: ws },
      ...sweep(id),
    ]);
    expect(fs.existsSync(ws)).toBe(false);
  });

  it("a compose path missing from the repository fails before `up`; the cleanup finds nothing by label and removes the workspace", async () => {
    const failed = await createAndWait("profile.compose-repo-missing");
    expect(failed.status).toBe("failed");
    expect(failed.statusReason).toContain(`deploy/missing.yaml is not a file in the synced repository ${repo}`);
    // No `up` ever ran; the cleanup found nothing carrying the label, so it ran no docker command that removes.
    expectCalls([...probe(), ...resources(failed.id)]);
    expect(fs.existsSync(workspace(failed.id))).toBe(false);
  });

  it("a failing `up` leaves the sandbox failed with docker's reason; the cleanup runs `down` and removes the workspace, and so does its destroy", async () => {
    docker.control("fail-up", "pull access denied for traefik/whoami, repository does not exist or may require 'docker login'");
    const failed = await createAndWait("profile.compose-plain");
    const id = failed.id;
    const ws = workspace(id);
    expect(failed.status).toBe("failed");
    expect(failed.statusReason).toContain(`docker compose up of project ${project(id)} failed on ${vm.host}:${vm.port} (exit 1)`);
    expect(failed.statusReason).toContain("Error response from daemon: pull access denied for traefik/whoami");
    const files = ["-f", "compose.yaml"];
    expectCalls([
      ...probe(),
      { argv: ["compose", "-p", project(id), ...files, "up", "-d"], cwd: ws },
      // The manager's cleanup, with the last recorded handle: the failed up had created containers.
      ...resources(id),
      { argv: ["compose", "-p", project(id), ...files, "down", "--volumes", "--remove-orphans"], cwd: ws },
      ...sweep(id),
    ]);
    expect(fs.existsSync(ws)).toBe(false);
    expect(docker.project(project(id))).toBeNull();
    const log = await logOf(id);
    expect(log).toContain(`Container ${project(id)}-web-1  Created`);
    expect(log.some((l) => l.startsWith(`Stopped and removed compose project ${project(id)} (2 containers`))).toBe(true);

    docker.control("fail-up", null);
    docker.clearCalls();
    const destroyed = await destroyAndWait(id);
    expect(destroyed.status, destroyed.statusReason ?? "").toBe("destroyed");
    expectCalls(resources(id));
  });

  it("an `up` that outlives upTimeoutSeconds is stopped on the host; failed naming the limit; the cleanup removes what it had created", async () => {
    docker.control("up-seconds", "60");
    const started = Date.now();
    const s = await t.manager.createSandbox("profile.compose-slow", t.user);
    const id = s.id;
    let settled = false;
    const running = t
      .newWorker()
      .runUntilIdle(60_000)
      .finally(() => (settled = true));
    const needle = `compose -p ${project(id)} -f compose.yaml up -d`;
    // Look until it shows up, or until the operation is over (then it never ran as a process).
    let seen = false;
    while (!seen && !settled) {
      seen = await processRunning(needle);
      if (!seen) await new Promise((r) => setTimeout(r, 25));
    }
    expect(seen, "the stand-in's up never showed up as a process").toBe(true);
    await running;
    const failed = await t.manager.getSandbox(id);
    expect(failed.status).toBe("failed");
    expect(failed.statusReason).toContain(`docker compose up of project ${project(id)} did not finish within 5 s`);
    expect(failed.statusReason).toContain("(upTimeoutSeconds)");
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(await processRunning(needle), "the stand-in's up was not stopped").toBe(false);
    expectCalls([
      ...probe(),
      { argv: ["compose", "-p", project(id), "-f", "compose.yaml", "up", "-d"], cwd: workspace(id) },
      ...resources(id),
      { argv: ["compose", "-p", project(id), "-f", "compose.yaml", "down", "--volumes", "--remove-orphans"], cwd: workspace(id) },
      ...sweep(id),
    ]);
    expect(docker.project(project(id))).toBeNull();
    expect(fs.existsSync(workspace(id))).toBe(false);
  });

  it("a failing `down` → destroy_failed with docker's reason and the workspace kept; Retry once it is fixed → destroyed", async () => {
    const ready = await createAndWait("profile.compose-plain");
    expect(ready.status, ready.statusReason ?? "").toBe("ready");
    const id = ready.id;
    const ws = workspace(id);
    docker.control("fail-down", `cannot stop container ${project(id)}-web-1: permission denied`);
    docker.clearCalls();
    const failed = await destroyAndWait(id);
    expect(failed.status).toBe("destroy_failed");
    expect(failed.statusReason).toContain(`docker compose down of project ${project(id)} failed on ${vm.host}:${vm.port} (exit 1)`);
    expect(failed.statusReason).toContain(`Error response from daemon: cannot stop container ${project(id)}-web-1: permission denied`);
    expect(failed.statusReason).toContain(`so ${ws} was kept`);
    expectCalls([
      ...resources(id),
      { argv: ["compose", "-p", project(id), "-f", "compose.yaml", "down", "--volumes", "--remove-orphans"], cwd: ws },
    ]);
    expect(fs.statSync(path.join(ws, "compose.yaml")).isFile()).toBe(true);
    expect(docker.project(project(id))?.state).toBe("running");

    docker.control("fail-down", null);
    docker.clearCalls();
    const retried = await destroyAndWait(id);
    expect(retried.status, retried.statusReason ?? "").toBe("destroyed");
    expectCalls([
      ...resources(id),
      { argv: ["compose", "-p", project(id), "-f", "compose.yaml", "down", "--volumes", "--remove-orphans"], cwd: ws },
      ...sweep(id),
    ]);
    expect(fs.existsSync(ws)).toBe(false);
    expect(docker.project(project(id))).toBeNull();
  });

  it("status: containers without a workspace are degraded; no containers and no workspace is missing", async () => {
    const ready = await createAndWait("profile.compose-plain");
    const id = ready.id;
    fs.rmSync(workspace(id), { recursive: true });
    let st = await status(id);
    expect(st.state).toBe("degraded");
    expect(st.detail).toContain(`${workspace(id)} is gone`);
    // The containers vanish too (e.g. removed on the host by hand).
    fs.rmSync(path.join(docker.stateDir, "projects", `${project(id)}.json`));
    st = await status(id);
    expect(st.state).toBe("missing");
    docker.clearCalls();
    const destroyed = await destroyAndWait(id);
    expect(destroyed.status).toBe("destroyed");
    expect(destroyed.statusReason).toBe(
      `Compose project ${project(id)} had nothing left (no container, network or volume); ${workspace(id)} was already gone on ${vm.host}:${vm.port}`,
    );
    expectCalls(resources(id));
  });

  it("the defect of issue 19: docker without the compose plugin → check not met, and create fails with that reason placing nothing", async () => {
    docker.control("no-compose", true);
    const check = await checkProfile({ db: t.db, catalog: t.manager.catalog }, "profile.compose-plain");
    expect(check.ok).toBe(false);
    const reason =
      `docker 20.10.24-stand-in answers on ${vm.host}:${vm.port}, but no compose command works for ${vms.user}: ` +
      "docker compose: docker: unknown command: docker compose (install the compose plugin or docker-compose)";
    expect(check.targets[0]?.requirements.find((r) => r.name === "docker compose")).toEqual({ name: "docker compose", met: false, reason });

    docker.clearCalls();
    const failed = await createAndWait("profile.compose-plain");
    expect(failed.status).toBe("failed");
    expect(failed.statusReason).toBe(`Cannot create compose project ${project(failed.id)}: ${reason}. Nothing was created.`);
    expectCalls(probe());
    expect(fs.existsSync(workspace(failed.id))).toBe(false);
    expect((await t.db.sandbox.findUniqueOrThrow({ where: { id: failed.id } })).handle).toBeNull();
    expect((await destroyAndWait(failed.id)).status).toBe("destroyed");
  });

  it("compose gone after create: destroy removes the project by its label — with or without the workspace — and a neighbour project survives", async () => {
    const a = await createAndWait("profile.compose-plain");
    const b = await createAndWait("profile.compose-plain");
    const c = await createAndWait("profile.compose-plain");
    for (const s of [a, b, c]) expect(s.status, s.statusReason ?? "").toBe("ready");
    docker.control("no-compose", true);

    // The workspace was removed by hand: no compose file to give `down`, so the label is all there is.
    fs.rmSync(workspace(a.id), { recursive: true });
    docker.clearCalls();
    const da = await destroyAndWait(a.id);
    expect(da.status, da.statusReason ?? "").toBe("destroyed");
    expect(da.statusReason).toBe(
      `Stopped and removed compose project ${project(a.id)} (2 containers, 1 network, 0 volumes); ${workspace(a.id)} was already gone on ${vm.host}:${vm.port}`,
    );
    expectCalls([...resources(a.id), ...sweep(a.id, { services: ["redis", "web"], network: true })]);
    expect(docker.project(project(a.id))).toBeNull();

    // The workspace is there but `docker compose down` is an unknown command now: the sweep does it.
    docker.clearCalls();
    const db = await destroyAndWait(b.id);
    expect(db.status, db.statusReason ?? "").toBe("destroyed");
    expectCalls([
      ...resources(b.id),
      { argv: ["compose", "-p", project(b.id), "-f", "compose.yaml", "down", "--volumes", "--remove-orphans"], cwd: workspace(b.id) },
      ...sweep(b.id, { services: ["redis", "web"], network: true }),
    ]);
    expect(await logOf(b.id)).toContain(
      `docker compose is no longer available on ${vm.host}:${vm.port}; removing the project's resources by label`,
    );
    expect(docker.project(project(b.id))).toBeNull();
    expect(fs.existsSync(workspace(b.id))).toBe(false);
    expect(docker.project(project(c.id))?.state).toBe("running");
    docker.control("no-compose", null);
    expect((await destroyAndWait(c.id)).status).toBe("destroyed");
  });

  it("docker not answering during destroy → destroy_failed saying nothing was removed and where the workspace is; Retry → destroyed", async () => {
    const ready = await createAndWait("profile.compose-plain");
    const id = ready.id;
    docker.control("no-daemon", true);
    const failed = await destroyAndWait(id);
    expect(failed.status).toBe("destroy_failed");
    expect(failed.statusReason).toContain(
      `Could not list what is left of compose project ${project(id)} on ${vm.host}:${vm.port} (exit 1)`,
    );
    expect(failed.statusReason).toContain(`Cannot connect to the Docker daemon`);
    expect(failed.statusReason).toContain(`Nothing was removed and ${workspace(id)} was kept`);
    fs.rmSync(workspace(id), { recursive: true });
    expect((await destroyAndWait(id)).statusReason).toContain(`Nothing was removed and ${workspace(id)} was already gone`);
    docker.control("no-daemon", null);
    const retried = await destroyAndWait(id);
    expect(retried.status, retried.statusReason ?? "").toBe("destroyed");
    expect(docker.project(project(id))).toBeNull();
  });

  it("a handle naming another sandbox's compose project is refused before any docker command; that project keeps running", async () => {
    const a = await createAndWait("profile.compose-plain");
    const b = await createAndWait("profile.compose-plain");
    const handle = (await t.db.sandbox.findUniqueOrThrow({ where: { id: a.id } })).handle as Record<string, unknown>;
    await t.db.sandbox.update({ where: { id: a.id }, data: { handle: { ...handle, compose_project: project(b.id) } } });
    docker.clearCalls();
    const refused = await destroyAndWait(a.id);
    expect(refused.status).toBe("destroy_failed");
    expect(refused.statusReason).toContain(`names compose project ${project(b.id)}, not ${project(a.id)}; refusing`);
    expectCalls([]);
    expect(docker.project(project(b.id))?.state).toBe("running");
    expect(fs.existsSync(workspace(a.id))).toBe(true);

    await t.db.sandbox.update({ where: { id: a.id }, data: { handle: handle as object } });
    for (const id of [a.id, b.id]) expect((await destroyAndWait(id)).status).toBe("destroyed");
    expect(docker.project(project(a.id))).toBeNull();
    expect(docker.project(project(b.id))).toBeNull();
  });
});
