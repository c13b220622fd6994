// Smoke run of `npm run bench` in its reduced configuration (--quick: 200 files, 8 concurrent creates,
// 500 seeded sandboxes, 2 runs): the whole benchmark still starts real sshd VMs and the built app,
// and writes a results file with the keys docs/performance.md promises and values that make sense.
// It checks the bench works, not the numbers (a noisy shared machine makes those a matter for the
// full run). Results go to a temp dir, never over bench/results/latest.json.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { REPO_ROOT } from "../support/app-server";

describe("npm run bench -- --quick", () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "sandboxer-bench-smoke-"));
  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  /** The bench's CPU control groups for its VMs (`sbx-vms-*`), wherever this machine mounts them. */
  const vmGroups = () =>
    ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup", "/sys/fs/cgroup/unified"].flatMap((d) =>
      fs.existsSync(d) ? fs.readdirSync(d).filter((n) => n.startsWith("sbx-vms-")) : [],
    );

  it("runs end to end and writes the results file with the required keys", async () => {
    const started = Date.now();
    // A group left by an earlier run that was killed is not this run's to remove.
    const groupsBefore = new Set(vmGroups());
    // The quick run takes about 80 s on a quiet machine, 140–210 s at load 10–13, and did not finish in 280 s at load 19–23
    // (two cores shared with other builds): a timeout here is a busy machine, not a broken bench.
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ["--conditions=react-server", "--import", "tsx", "bench/run.ts", "--quick", "--out", out, "--name", "smoke"],
        { cwd: REPO_ROOT, timeout: 420_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" } },
        (err, so, se) => resolve({ code: err ? (typeof err.code === "number" ? err.code : null) : 0, stdout: so, stderr: se }),
      );
    });
    expect(code, `bench failed:\n${stdout.slice(-4000)}\n${stderr.slice(-4000)}`).toBe(0);
    console.log(`[measure] bench --quick took ${Date.now() - started} ms`);

    const results = JSON.parse(fs.readFileSync(path.join(out, "smoke.json"), "utf8")) as Record<string, unknown> & {
      create: { manager: { n: number; median: number }; script: { n: number; median: number } };
      concurrency: {
        creates: number;
        failures: number;
        peakConnectionsPerHost: Record<string, number>;
        sandboxesPerHost: Record<string, number>;
        placementFirstLast: (string | null)[];
        hostsNotHealthy: string[];
        sshdMaxStartupsLogLines: Record<string, number>;
        workspacesLeftBehind: number;
      };
      overview: { page: { n: number }; queries: Record<string, { statements: number }> };
      machine: Record<string, unknown>;
      vmCpu?: string;
      pools?: { loopback: { run: { manager: { n: number }; managerDirect: { n: number } } } };
    };
    for (const key of ["createRatio", "overviewP95Ms", "concurrentFailures", "destroyLatencyMs", "rssIdleMb", "machine"]) {
      expect(results, key).toHaveProperty(key);
    }
    const num = (k: string) => results[k] as number;
    expect(num("createRatio")).toBeGreaterThan(0.05);
    expect(num("createRatio")).toBeLessThan(20);
    // The compose part (bench/compose.ts): one pair against a private dockerd with docker-compose v1.
    expect(num("composeCreateRatio")).toBeGreaterThan(0.05);
    expect(num("composeCreateRatio")).toBeLessThan(20);
    expect(num("composeDestroyRatio")).toBeGreaterThan(0.05);
    expect(num("composeDestroyRatio")).toBeLessThan(20);
    // The gateway part (bench/gateway.ts) ran against a sandbox on a bench VM.
    expect(num("gatewayExecRatio")).toBeGreaterThan(0);
    expect(num("gatewayExecRatio")).toBeLessThan(50);
    expect(num("overviewP95Ms")).toBeGreaterThan(0);
    expect(num("overviewP95Ms")).toBeLessThan(10_000);
    expect(num("concurrentFailures")).toBe(0);
    expect(num("createAcceptedWhileBusyP95Ms")).toBeGreaterThan(0);
    expect(num("destroyLatencyMs")).toBeGreaterThan(0);
    expect(num("destroyLatencyMs")).toBeLessThan(60_000);
    expect(num("rssIdleMb")).toBeGreaterThan(30);
    expect(num("rssIdleMb")).toBeLessThan(4_000);
    // CLI start-up (bench/cli-startup.ts): the served bundle beside node's own start; null only if that part failed.
    expect(num("cliVersionOverNodeMs")).toBeGreaterThan(-1_000);
    expect(num("cliVersionOverNodeMs")).toBeLessThan(5_000);
    expect(num("cliListOverNodeMs")).toBeGreaterThan(num("cliVersionOverNodeMs") - 1_000);
    expect(num("cliListOverNodeMs")).toBeLessThan(10_000);
    // The dashboard in Chromium (bench/dashboard.ts): both keys present and finite (their values are the
    // full run's business), every run measured.
    for (const key of ["destroyShownP95Ms", "createShownP95Ms", "idleTabsQueriesPerSec"]) expect(Number.isFinite(num(key)), key).toBe(true);
    expect(num("destroyShownP95Ms")).toBeGreaterThan(0);
    expect((results.dashboard as { destroyShownMs: { n: number }; failures: string[] }).failures).toEqual([]);
    expect((results.dashboard as { destroyShownMs: { n: number } }).destroyShownMs.n).toBe(2);
    expect(results.create.manager.n).toBe(2);
    expect(results.create.script.n).toBe(2);
    expect(results.overview.page.n).toBe(20);
    expect(results.overview.queries["GET /"]?.statements).toBeGreaterThan(0);
    expect(results.concurrency.creates).toBe(8);
    expect(results.concurrency.workspacesLeftBehind).toBe(0);
    // Sampled on the VM side, one entry per build VM the bench starts (vm1 and vm2), each of which served
    // some of the creates; MaxStartups counts only unauthenticated connections, but a bound is a bound.
    const vmNames = ["vm1", "vm2"];
    expect(Object.keys(results.concurrency.peakConnectionsPerHost).sort()).toEqual(vmNames);
    // Placement spread the batch over both (the VMs are this one machine: equal disk, load taken moments
    // apart; the bench waits until both are healthy first); the message gives the first and last create's
    // placement line and any VM still not healthy. A peak of 0 on a VM that got creates is a sampling miss.
    const placed = `${JSON.stringify(results.concurrency.sandboxesPerHost)}; ${JSON.stringify(results.concurrency.placementFirstLast)}; not healthy before the burst: ${JSON.stringify(results.concurrency.hostsNotHealthy)}`;
    expect(Object.keys(results.concurrency.sandboxesPerHost).sort(), placed).toEqual(vmNames);
    for (const [vm, peak] of Object.entries(results.concurrency.peakConnectionsPerHost))
      expect(peak, `${vm}; sandboxes per host ${placed}`).toBeGreaterThan(0);
    // sshd never throttled or dropped a handshake (its log has no MaxStartups line) on either VM.
    expect(results.concurrency.sshdMaxStartupsLogLines).toEqual(Object.fromEntries(vmNames.map((vm) => [vm, 0])));
    for (const key of ["cpuModel", "cpuCount", "memoryMb", "os", "node", "date"]) expect(results.machine, key).toHaveProperty(key);
    // The VMs ran in a CPU control group of their own (this machine has the cpu controller), removed at the end.
    expect(results.vmCpu).toBe("low share (cgroup)");
    // When one is left, the harness said why on the bench's stderr (removeCpuGroup, or a failed cleanup step).
    const cleanupLines = stderr
      .split("\n")
      .filter((l) => /control group|cleanup:/.test(l))
      .join("\n");
    expect(
      vmGroups().filter((g) => !groupsBefore.has(g)),
      `the bench's cleanup said:\n${cleanupLines || "(nothing)"}`,
    ).toEqual([]);
    // `run` went through the SSH gateway (the key registered) and straight to the VM (--direct), both measured.
    expect(results.pools?.loopback.run.manager.n).toBeGreaterThan(0);
    expect(results.pools?.loopback.run.managerDirect.n).toBeGreaterThan(0);
    expect(fs.readFileSync(path.join(out, "smoke.md"), "utf8")).toContain("| Create vs hand-written script |");
  }, 440_000);
});
