// Bad clients cost the SSH gateway bounded memory: 1,000 TCP connections that never authenticate (half
// silent, half stalling after their identification line) are all closed by the handshake timeout, the
// gateway process's RSS grows by less than the bound docs/ssh-gateway.md states, and a real OpenSSH
// client is served while they are held and after. The gateway runs as `npm run gateway` in its own
// process (its RSS is read from /proc/<pid>/status); the bad clients live in two more processes.
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { stringify } from "yaml";

import { loadGatewayHostKey } from "@/lib/gateway/host-key";
import { addSshKey } from "@/lib/manager/ssh-keys";

import { REPO_ROOT } from "../support/app-server";
import { freeLoopbackPort, run, startBuildVms, stopBuildVms, type BuildVms } from "../support/build-vms";
import { strictSshOptions } from "../support/ssh-client";
import { createVmTestManager, type VmTestManager } from "../support/vm-harness";
import { startWorkerProcess, type WorkerProcess } from "../support/worker-process";

/** The bound docs/ssh-gateway.md states for 1,000 unauthenticated connections. */
const RSS_BOUND_MB = 64;
const CONNECTIONS = 1_000;
const CLIENT_PROCESSES = 2;
const HANDSHAKE_TIMEOUT_MS = 5_000;

let vms: BuildVms;
let t: VmTestManager;
let gw: WorkerProcess;
let scratch: string;
let key: string;
let knownHosts: string;
let port: number;
let sandboxId: string;
let workspace: string;

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) / 1024;
}

function ssh(command: string) {
  return run(["ssh", ...strictSshOptions(key, knownHosts), "-p", String(port), `${sandboxId}@127.0.0.1`, command], { timeoutMs: 60_000 });
}

/** The `npm run gateway` process (the worker-process helper runs any script the same way). */
function startGateway(env: Record<string, string>): WorkerProcess {
  return startWorkerProcess(env, "scripts/gateway.ts");
}

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), "sbx-gateway-flood-"));
  vms = await startBuildVms({ vms: [{ name: "vm1", address: "127.0.0.1" }] });
  t = await createVmTestManager("sqlite", vms, { profiles: { vm1: { extension: "ext.vm-packer", params: { host: "host-vm1" } } } });
  fs.writeFileSync(path.join(t.configDir, "hosts.yaml"), stringify({ apiVersion: "sandboxer.dev/v1", hosts: t.hosts }));
  const worker = t.newWorker();
  sandboxId = (await t.manager.createSandbox("profile.vm1", t.user)).id;
  await worker.runUntilIdle(60_000);
  expect((await t.manager.getSandbox(sandboxId)).status).toBe("ready");
  workspace = path.join(vms.vm("vm1").workspaceRoot, `sbx-${sandboxId}`);
  key = path.join(scratch, "alice");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "alice@laptop", "-f", key]);
  await addSshKey(t.manager, t.user, { publicKey: fs.readFileSync(`${key}.pub`, "utf8") });

  const dataDir = path.join(scratch, "data");
  port = await freeLoopbackPort();
  gw = startGateway({
    DATABASE_URL: t.database.config.url,
    SANDBOXER_CONFIG_DIR: t.configDir,
    SANDBOXER_DATA_DIR: dataDir,
    SANDBOXER_SSH_IDENTITY: vms.identityFile,
    SANDBOXER_SSH_GATEWAY: `127.0.0.1:${port}`,
    SANDBOXER_SSH_GATEWAY_HANDSHAKE_TIMEOUT: `${HANDSHAKE_TIMEOUT_MS}ms`,
    SANDBOXER_HEALTH_INTERVAL: "1h",
  });
  await vi.waitFor(() => expect(gw.logs()).toContain("ssh gateway listening"), { timeout: 60_000, interval: 100 });
  knownHosts = path.join(scratch, "known_hosts");
  fs.writeFileSync(knownHosts, `[127.0.0.1]:${port} ${loadGatewayHostKey({ dataDir }).publicKeyLine}\n`);
}, 120_000);

afterAll(async () => {
  try {
    if (gw) {
      const stopped = gw.kill("SIGTERM");
      const timer = setTimeout(() => gw.child.kill("SIGKILL"), 10_000);
      await stopped;
      clearTimeout(timer);
    }
    await t?.close();
  } finally {
    if (vms) await stopBuildVms(vms);
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  }
});

interface ClientReport {
  opened?: number;
  failed?: number;
  closed?: number;
  open?: number;
  minLifeMs?: number | null;
  maxLifeMs?: number | null;
}

/** One process of bad clients: resolves `opened` when all are connected and `done` when all are closed. */
function badClients(count: number): { opened: Promise<ClientReport>; done: Promise<ClientReport> } {
  const child = spawn(
    process.execPath,
    [path.join(REPO_ROOT, "tests/support/idle-ssh-clients.mjs"), "127.0.0.1", String(port), String(count), "50000"],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const lines: ClientReport[] = [];
  let openedResolve: (r: ClientReport) => void = () => {};
  const opened = new Promise<ClientReport>((r) => (openedResolve = r));
  let buffered = "";
  child.stdout.on("data", (b: Buffer) => {
    buffered += b.toString();
    for (let nl = buffered.indexOf("\n"); nl !== -1; nl = buffered.indexOf("\n")) {
      const line = JSON.parse(buffered.slice(0, nl)) as ClientReport;
      buffered = buffered.slice(nl + 1);
      lines.push(line);
      if (line.opened !== undefined) openedResolve(line);
    }
  });
  const done = new Promise<ClientReport>((resolve) =>
    child.on("close", () => {
      const last = lines.find((l) => l.closed !== undefined) ?? {};
      openedResolve(lines.find((l) => l.opened !== undefined) ?? {});
      resolve(last);
    }),
  );
  return { opened, done };
}

describe("SSH gateway under 1,000 idle unauthenticated connections", () => {
  it("closes every one by the handshake timeout, stays within its memory bound, and keeps serving OpenSSH", async () => {
    // Warm up: one real session, so lazily loaded code and the pooled VM connection are in the baseline.
    expect(await ssh("pwd")).toMatchObject({ code: 0, stdout: `${workspace}\n` });
    const pid = gw.child.pid!;
    const baseline = Math.max(rssMb(pid), rssMb(pid), rssMb(pid));
    let peak = baseline;
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, rssMb(pid));
      } catch {
        // Gone: the assertions below say why.
      }
    }, 50);

    try {
      const groups = Array.from({ length: CLIENT_PROCESSES }, () => badClients(CONNECTIONS / CLIENT_PROCESSES));
      const opened = await Promise.all(groups.map((g) => g.opened));
      // Served while the bad clients are held (or being closed): exec with its exit status.
      const during = await ssh("pwd; exit 3");
      const reports = await Promise.all(groups.map((g) => g.done));
      const after = await ssh("pwd");
      peak = Math.max(peak, rssMb(pid));

      expect(opened.map((o) => o.failed)).toEqual([0, 0]);
      expect(opened.reduce((n, o) => n + (o.opened ?? 0), 0)).toBe(CONNECTIONS);
      // Every connection was closed by the gateway (the clients never close one), and none before
      // the handshake timeout: a client's clock starts before its SYN, so before the gateway's accept.
      expect(reports.map((r) => r.open)).toEqual([0, 0]);
      expect(reports.reduce((n, r) => n + (r.closed ?? 0), 0)).toBe(CONNECTIONS);
      for (const r of reports) expect(r.minLifeMs).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT_MS);
      expect(during).toMatchObject({ code: 3, stdout: `${workspace}\n` });
      expect(after).toMatchObject({ code: 0, stdout: `${workspace}\n` });
    } finally {
      clearInterval(sampler);
    }
    const growth = peak - baseline;
    console.log(`gateway RSS: baseline ${baseline.toFixed(1)} MB, peak ${peak.toFixed(1)} MB, growth ${growth.toFixed(1)} MB`);
    expect(growth).toBeLessThan(RSS_BOUND_MB);

    // The gateway counted them as handshake timeouts (its stop line carries its counters).
    const exited = gw.kill("SIGTERM");
    await expect.poll(() => gw.logs(), { timeout: 20_000, interval: 100 }).toContain("ssh gateway stopped");
    const stopLine = gw
      .logs()
      .split("\n")
      .find((l) => l.includes("ssh gateway stopped"))!;
    expect((JSON.parse(stopLine) as { handshakeTimeouts: number }).handshakeTimeouts).toBeGreaterThanOrEqual(CONNECTIONS);
    await exited;
  }, 120_000);
});
