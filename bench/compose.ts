// The compose part of `npm run bench` (issue 19): ext.compose-ssh create → `ready` and destroy →
// `destroyed` through the app's API (POST/DELETE, then the SSE `end` event), interleaved with the
// hand-written way — bench/baseline/compose-up.sh (`ssh host 'mkdir … && cat > compose.yaml && cd … &&
// docker-compose -p P up -d'`) and compose-down.sh (`… down -v && rm -rf …`) — on the same VM, against
// a private real dockerd (tests/support/docker-engine.ts) reached through the profile's dockerHost.
// The one service is the real-engine tests' idle busybox with a named volume, on host networking.
// Keys: composeCreateRatio, composeDestroyRatio (sand-boxer / script, medians; target ≤ 1.0x).
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";

import { stringify } from "yaml";

import { startDockerEngine, TEST_IMAGE, type DockerEngine } from "../tests/support/docker-engine";
import type { BuildVm, BuildVms } from "../tests/support/build-vms";
import type { Api } from "./lib/api";
import { onCleanup } from "./lib/cleanup";
import { median, ratio, round, summarize, type Summary } from "./lib/stats";

export const COMPOSE_PROFILE_ID = "profile.bench-compose";
const REPO_ROOT = path.resolve(import.meta.dirname, "..");
// Known before the app starts (its profile names the socket); removed by the engine's stop().
const ENGINE_DIR = path.join(os.tmpdir(), `sandboxer-bench-docker-${process.pid}`);
const DOCKER_HOST = `unix://${ENGINE_DIR}/docker.sock`;
const FOLLOW_TIMEOUT_MS = 180_000;
const COMPOSE = `services:
  idle:
    image: ${TEST_IMAGE}
    init: true
    network_mode: host
    command: ["sleep", "3600"]
    volumes: [state:/state]
volumes:
  state: {}
`;

export interface ComposeBench {
  create: { manager: Summary; script: Summary; ratioOfMedians: number; pairedRatioMedian: number };
  destroy: { manager: Summary; script: Summary; ratioOfMedians: number; pairedRatioMedian: number };
  composeCommand: string;
  failures: string[];
  method: string;
}

/** Writes the bench's compose profile into the app's config dir (before the app starts). */
export function writeComposeProfile(configDir: string, hostLabel: string): void {
  fs.writeFileSync(
    path.join(configDir, "profiles", "bench-compose.yaml"),
    stringify({
      apiVersion: "sandboxer.dev/v1",
      id: COMPOSE_PROFILE_ID,
      title: "Bench: compose project on a private dockerd",
      description: "One idle busybox service with a named volume, on the bench's loopback VMs, through dockerHost.",
      extension: "ext.compose-ssh",
      params: { hostLabel, dockerHost: DOCKER_HOST, composeFiles: [{ name: "compose.yaml", content: COMPOSE }] },
      ttl: "8h",
    }),
  );
}

function runScript(argv: string[], input?: string): Promise<{ ms: number; code: number; stderr: string }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const env: NodeJS.ProcessEnv = {
      NODE_ENV: "production",
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/root",
      LC_ALL: "C",
    };
    const child = execFile(argv[0]!, argv.slice(1), { timeout: 120_000, env, encoding: "utf8" }, (err, _o, stderr) => {
      resolve({ ms: performance.now() - t0, code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stderr: stderr.slice(-500) });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

interface Run {
  ms: number;
  ok: boolean;
  error?: string;
}

/**
 * Measures `runs` interleaved pairs (sand-boxer, script, sand-boxer, script…) after one warm-up pair
 * (none when `runs` is 1: the --quick smoke run).
 * `s` is the bench's setup: its app API and loopback VMs (both VMs carry the compose profile's label).
 */
export async function measureCompose(s: { api: Api; vms: BuildVms }, runs: number, log: (msg: string) => void): Promise<ComposeBench> {
  const t0 = performance.now();
  const engine: DockerEngine = await startDockerEngine({ dir: ENGINE_DIR });
  onCleanup("stop the compose bench's dockerd", () => engine.stop());
  log(`compose: private dockerd up in ${round(performance.now() - t0, 0)} ms`);
  const composeFile = path.join(ENGINE_DIR, "bench-compose.yaml");
  fs.writeFileSync(composeFile, COMPOSE);
  const failures: string[] = [];
  const created: { manager: number[]; script: number[] } = { manager: [], script: [] };
  const destroyed: { manager: number[]; script: number[] } = { manager: [], script: [] };
  const pairs = { create: [] as number[], destroy: [] as number[] };
  let composeCommand = "unknown";

  const vmOf = (address: string, port: number): BuildVm | undefined => s.vms.vms.find((v) => v.host === address && v.port === port);
  const sshArgs = (vm: BuildVm) => [vm.host, String(vm.port), vm.user, s.vms.identityFile, s.vms.knownHostsPath];

  const managerCreate = async (): Promise<Run & { id?: string; vm?: BuildVm }> => {
    const start = performance.now();
    const c = await s.api.create(COMPOSE_PROFILE_ID);
    if (!c.sandbox) return { ms: performance.now() - start, ok: false, error: `POST ${c.status}: ${c.error}` };
    const follow = await s.api.follow(c.sandbox.id, FOLLOW_TIMEOUT_MS);
    const f = follow.final;
    const ok = f.status === "ready";
    // The teardown line names the compose command the probe found on the host.
    const teardown = (f.handle as { teardown?: string[] } | null)?.teardown?.[0] ?? "";
    if (ok)
      composeCommand = teardown.startsWith("docker-compose ")
        ? "docker-compose (v1)"
        : teardown.startsWith("docker compose ")
          ? "docker compose (v2)"
          : "unknown";
    return {
      ms: follow.endAt - start,
      ok,
      id: f.id,
      vm: f.host ? vmOf(f.host.address, f.host.port) : undefined,
      error: ok ? undefined : `${f.status}: ${f.statusReason}`,
    };
  };
  const managerDestroy = async (id: string): Promise<Run> => {
    const start = performance.now();
    const d = await s.api.destroy(id);
    if (!d.sandbox) return { ms: performance.now() - start, ok: false, error: `DELETE ${d.status}: ${d.error}` };
    const follow = await s.api.follow(id, FOLLOW_TIMEOUT_MS);
    const ok = follow.final.status === "destroyed";
    return { ms: follow.endAt - start, ok, error: ok ? undefined : `${follow.final.status}: ${follow.final.statusReason}` };
  };
  const scriptPair = async (vm: BuildVm) => {
    const name = `sbx-script${randomBytes(4).toString("hex")}`;
    const dir = path.join(vm.workspaceRoot, name);
    const up = await runScript([
      "sh",
      path.join(REPO_ROOT, "bench/baseline/compose-up.sh"),
      ...sshArgs(vm),
      dir,
      name,
      DOCKER_HOST,
      composeFile,
    ]);
    const down = await runScript(["sh", path.join(REPO_ROOT, "bench/baseline/compose-down.sh"), ...sshArgs(vm), dir, name, DOCKER_HOST]);
    const left = (await engine.docker(["ps", "-a", "-q", "--filter", `label=com.docker.compose.project=${name}`])).stdout.trim();
    return {
      up: { ms: up.ms, ok: up.code === 0, error: up.code === 0 ? undefined : `compose-up.sh exit ${up.code}: ${up.stderr}` },
      down: {
        ms: down.ms,
        ok: down.code === 0 && left === "" && !fs.existsSync(dir),
        error: down.code === 0 ? (left ? `containers left: ${left}` : undefined) : `compose-down.sh exit ${down.code}: ${down.stderr}`,
      },
    };
  };

  // A warm-up pair first (docker-compose's first start reads more from disk), except in a one-run smoke.
  for (let i = runs > 1 ? -1 : 0; i < runs; i++) {
    const warmup = i < 0;
    const m = await managerCreate();
    if (!m.ok || !m.id || !m.vm) {
      failures.push(`compose create: ${m.error ?? "no host"}`);
      if (m.id) await managerDestroy(m.id);
      continue;
    }
    const script = await scriptPair(m.vm);
    const md = await managerDestroy(m.id);
    for (const [what, r] of [
      ["compose script up", script.up],
      ["compose script down", script.down],
      ["compose destroy", md],
    ] as const)
      if (!r.ok) failures.push(`${what}: ${r.error}`);
    if (warmup || !md.ok || !script.up.ok || !script.down.ok) continue;
    created.manager.push(m.ms);
    created.script.push(script.up.ms);
    destroyed.manager.push(md.ms);
    destroyed.script.push(script.down.ms);
    pairs.create.push(m.ms / script.up.ms);
    pairs.destroy.push(md.ms / script.down.ms);
    log(
      `compose run ${i + 1}/${runs}: create ${round(m.ms, 0)} ms vs script ${round(script.up.ms, 0)} ms; destroy ${round(md.ms, 0)} ms vs script ${round(script.down.ms, 0)} ms`,
    );
  }
  const side = (x: { manager: number[]; script: number[] }, p: number[]) => {
    const manager = summarize(x.manager);
    const script = summarize(x.script);
    return { manager, script, ratioOfMedians: ratio(manager.median, script.median), pairedRatioMedian: round(median(p), 2) };
  };
  return {
    create: side(created, pairs.create),
    destroy: side(destroyed, pairs.destroy),
    composeCommand,
    failures,
    method:
      "Interleaved after one warm-up pair: POST /api/v1/sandboxes (profile.bench-compose) → SSE `end` ready, then on the same VM " +
      "compose-up.sh and compose-down.sh (one OpenSSH session each), then DELETE → SSE `end` destroyed. A private dockerd 20.10 " +
      "(reached with dockerHost), docker-compose 1.29, one busybox service with a named volume on host networking.",
  };
}
