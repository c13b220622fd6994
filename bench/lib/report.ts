// The results file's shape and its Markdown rendering (bench/results/latest.md, the README table).
import type { CliStartupBench } from "../cli-startup";
import type { DashboardBench } from "../dashboard";
import type { GatewayBench } from "../gateway";
import type { ProfileSummary } from "./cpuprofile";
import type { HeapSummary } from "./heapsnapshot";
import { describeCpuShares, describeCpuTraits, describeVmCosts, type Machine } from "./machine";
import type { MemorySnapshot } from "./memory";
import { renderPoolMarkdown, type PoolBenchResults } from "./pools-report";
import type { Summary } from "./stats";

import type { ComposeBench } from "../compose";

export interface CreateBreakdown {
  /** POST sent (client) → "Queued" state event (server): request handling. */
  postToQueuedMs: number;
  /** Queued → creating: waiting for and claiming by the worker, picking a host. */
  queuedToCreatingMs: number;
  creatingToConnectMs: number;
  /** "Connecting…" → "Created …": SSH connect (or pooled connection) and the guarded mkdir script. */
  mkdirMs: number;
  /** "Created …" → "Syncing …": remembering the verified host key. */
  createdToSyncMs: number;
  /** rsync over OpenSSH, as the extension logs it. */
  rsyncMs: number;
  /** "Synced …" → ready state event: log flush, handle, state transition. */
  syncedToReadyMs: number;
  /** Ready state event (server) → `end` event received (client): the event stream's delay. */
  readyToEndEventMs: number;
}

export interface DestroyBreakdown {
  /** DELETE sent (client) → "destroying" state event (server): request handling. */
  deleteToDestroyingMs: number;
  /** destroying → the worker's "Removing …" line: waiting for and claiming by the worker. */
  destroyingToWorkerStartMs: number;
  /** "Removing …" → "Removed …": the guarded `rm -rf` script over SSH. */
  removeMs: number;
  removedToDestroyedMs: number;
  /** destroyed state event (server) → `end` event received (client). */
  destroyedToEndEventMs: number;
}

/** The warm-pool keys (poolCreateP50Ms, …Rtt20, `pools`) are present when bench/pools.ts ran. */
export interface BenchResults extends Partial<PoolBenchResults> {
  schemaVersion: 1;
  db: "sqlite" | "postgres";
  quick: boolean;
  /** The loopback build VMs' CPU: "low share (cgroup)" (they stand for other machines) or "shared" (bench/lib/vms.ts). */
  vmCpu?: string;
  // The headline figures (medians unless named p95).
  createRatio: number;
  /** ext.compose-ssh create → ready ÷ bench/baseline/compose-up.sh (medians; bench/compose.ts). */
  composeCreateRatio: number;
  /** ext.compose-ssh destroy → destroyed ÷ bench/baseline/compose-down.sh (medians). */
  composeDestroyRatio: number;
  overviewP95Ms: number;
  concurrentFailures: number;
  /** SSH gateway vs direct OpenSSH (bench/gateway.ts); null when the gateway part did not run. */
  gatewayExecRatio: number | null;
  gatewayThroughputRatio: number | null;
  gatewayRsyncRatio: number | null;
  gatewayEchoAddedMs: number | null;
  gatewayConcurrentFailures: number | null;
  gateway: GatewayBench | null;
  /** Whole-process medians of the served CLI bundle minus `node -e 0`'s (bench/cli-startup.ts); null when that part failed. */
  cliVersionOverNodeMs: number | null;
  cliListOverNodeMs: number | null;
  cliStartup: CliStartupBench | null;
  /** In Chromium (bench/dashboard.ts): destroy confirm click → `destroyed` shown, p95; null when that part failed. */
  destroyShownP95Ms: number | null;
  /** A create's `ready` (server event time) → the overview row shows it, p95. */
  createShownP95Ms: number | null;
  /** Database statements per second with the idle overview tabs open, minus with none (whole process). */
  idleTabsQueriesPerSec: number | null;
  dashboard: DashboardBench | null;
  destroyLatencyMs: number;
  rssIdleMb: number;
  destroyLatencyP95Ms: number;
  destroyLatencyPolledMs: number;
  destroyLatencyPolledP95Ms: number;
  destroyRatio: number;
  overviewMedianMs: number;
  apiListP95Ms: number;
  apiListMedianMs: number;
  overviewQueriesPerRequest: number | null;
  apiListQueriesPerRequest: number | null;
  concurrentWallMs: number;
  /** p95 of single creates' POST → 202 while the concurrency batch runs (issue 20 target ≤ 400 ms). */
  createAcceptedWhileBusyP95Ms: number;
  rssPeakMb: number;
  create: {
    manager: Summary;
    script: Summary;
    ratioOfMedians: number;
    ratioP95: number;
    pairedRatioMedian: number;
    breakdownMedianMs: CreateBreakdown | null;
    /** CPU time of the app server's node process (self) and of its reaped children (rsync + ssh) per create. */
    serverCpu: { duringManagerCreateMs: Summary; duringScriptCreateMs: Summary; rsyncChildrenDuringManagerCreateMs: Summary };
    repository: { files: number; bytes: number };
  };
  destroy: {
    manager: Summary;
    script: Summary;
    ratioOfMedians: number;
    pairedRatioMedian: number;
    breakdownMedianMs: DestroyBreakdown | null;
    polled: { ms: Summary; method: string };
    method: string;
  };
  compose: ComposeBench;
  runFailures: string[];
  /** GET/DELETE requests the bench retried after a connection-level failure (keep-alive races), with causes. */
  clientNetworkRetries: string[];
  concurrency: {
    creates: number;
    wallMs: number;
    perCreateMs: Summary;
    failures: number;
    failureReasons: (string | undefined)[];
    incompleteWorkspaces: number;
    sandboxesPerHost: Record<string, number>;
    /** How long the part waited for every bench VM to be healthy before its burst, and which were still not. */
    hostsHealthyWaitMs?: number;
    hostsNotHealthy?: string[];
    /** The placement log line of the batch's first and last create (null: none seen). */
    placementFirstLast?: (string | null)[];
    peakConnectionsPerHost: Record<string, number>;
    peakConnectionsPerHostDuringDestroy: Record<string, number>;
    sshdMaxStartupsLogLines: Record<string, number>;
    acceptedWhileBusyMs: Summary;
    acceptedWhileBusyFailures: number;
    destroyWallMs: number;
    destroyFailures: number;
    destroyFailureReasons: (string | undefined)[];
    workspacesLeftBehind: number;
    rssPeakMb: number;
    rssPeakServerMb: number;
    processesInTreeAtPeak: number;
    samples: number;
  };
  overview: {
    sandboxesSeeded: number;
    activeSeeded: number;
    listedByDefault: number;
    counts: Record<string, number>;
    requestsPerUrl: number;
    page: Summary;
    pageTtfb: Summary;
    api: Summary;
    errors: number;
    pageBytes: number;
    apiBytes: number;
    queries: Record<string, { requests: number; statements: number; transactionControl: number; sql: string[] }>;
    queryCountMethod: string;
  };
  memory: {
    rssIdleMb: number;
    rssIdleTreeMb: number;
    rssPeakMb: number;
    rssPeakServerMb: number;
    rssAfterConcurrencyMb: number;
    snapshots: Record<string, MemorySnapshot>;
    method: string;
  };
  cpuProfiles: ProfileSummary[];
  heapSnapshot: HeapSummary | null;
  settings: Record<string, string | number>;
  timings: Record<string, number>;
  machine: Machine;
}

const fmt = (v: number | null | undefined, digits = 0) => (v === null || v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(digits));
const ok = (met: boolean) => (met ? "✅ met" : "❌ missed");

export interface TargetCheck {
  name: string;
  target: string;
  value: string;
  met: boolean;
}

export function checkTargets(r: BenchResults): TargetCheck[] {
  return [
    { name: "Create vs hand-written script", target: "≤ 1.0x", value: `${fmt(r.createRatio, 2)}x`, met: r.createRatio <= 1.0 },
    {
      name: `Overview p95 at ${r.overview.sandboxesSeeded.toLocaleString("en")} sandboxes`,
      target: "< 150 ms",
      value: `${fmt(r.overviewP95Ms, 1)} ms`,
      met: r.overviewP95Ms < 150,
    },
    {
      name: `Failures at ${r.concurrency.creates} concurrent creates`,
      target: "0",
      value: String(r.concurrentFailures),
      met: r.concurrentFailures === 0,
    },
    {
      name: `A create's POST → 202 while ${r.concurrency.creates} creates run, p95`,
      target: "≤ 400 ms",
      value: `${fmt(r.createAcceptedWhileBusyP95Ms, 1)} ms`,
      met: r.createAcceptedWhileBusyP95Ms <= 400,
    },
    { name: "Server RSS idle", target: "< 250 MB", value: `${fmt(r.rssIdleMb, 1)} MB`, met: r.rssIdleMb < 250 },
    {
      name: "Compose create vs hand-written docker-compose script",
      target: "≤ 1.0x",
      value: `${fmt(r.composeCreateRatio, 2)}x`,
      met: r.composeCreateRatio <= 1.0,
    },
    {
      name: "Compose destroy vs hand-written docker-compose script",
      target: "≤ 1.0x",
      value: `${fmt(r.composeDestroyRatio, 2)}x`,
      met: r.composeDestroyRatio <= 1.0,
    },
    ...(r.gateway
      ? [
          {
            name: "SSH gateway `ssh … true` vs direct",
            target: "≤ 1.2x",
            value: `${fmt(r.gateway.execRatio, 2)}x`,
            met: r.gateway.execRatio <= 1.2,
          },
          {
            name: `SSH gateway throughput (${r.gateway.throughputMb} MB through cat) vs direct`,
            target: "≥ 0.4x",
            value: `${fmt(r.gateway.throughputRatio, 2)}x`,
            met: r.gateway.throughputRatio >= 0.4,
          },
          {
            name: `SSH gateway rsync of ${r.gateway.rsyncFiles.toLocaleString("en")} files vs direct`,
            target: "≤ 1.2x",
            value: `${fmt(r.gateway.rsyncRatio, 2)}x`,
            met: r.gateway.rsyncRatio <= 1.2,
          },
          {
            name: "SSH gateway added echo latency",
            target: "≤ 2 ms",
            value: `${fmt(r.gateway.echoAddedMs, 2)} ms`,
            met: r.gateway.echoAddedMs <= 2,
          },
          {
            name: `SSH gateway failures at ${r.gateway.concurrent.sessions} concurrent sessions`,
            target: "0",
            value: String(r.gateway.concurrent.failures),
            met: r.gateway.concurrent.failures === 0,
          },
        ]
      : []),
    ...(r.cliStartup
      ? [
          {
            name: "`sandboxer --version` over `node -e 0` (medians)",
            target: "≤ 30 ms",
            value: `${fmt(r.cliStartup.cliVersionOverNodeMs, 1)} ms`,
            met: r.cliStartup.cliVersionOverNodeMs <= 30,
          },
          ...(r.cliStartup.cliListOverNodeMs !== null
            ? [
                {
                  name: "`sandboxer list` over `node -e 0` (medians)",
                  target: "≤ 150 ms",
                  value: `${fmt(r.cliStartup.cliListOverNodeMs, 1)} ms`,
                  met: r.cliStartup.cliListOverNodeMs <= 150,
                },
              ]
            : []),
        ]
      : []),
    ...(r.dashboard
      ? [
          {
            name: "Destroy confirm click → `destroyed` shown in Chromium (p95, local sandbox)",
            target: "≤ 300 ms",
            value: `${fmt(r.dashboard.destroyShownMs.p95)} ms`,
            met: r.dashboard.destroyShownMs.p95 <= 300,
          },
          {
            name: `Database statements/s with ${r.dashboard.idleTabs.tabs} idle overview tabs (beyond none)`,
            target: "≤ 1 /s",
            value: `${fmt(r.dashboard.idleTabs.queriesPerSec, 2)} /s`,
            met: r.dashboard.idleTabs.queriesPerSec <= 1,
          },
        ]
      : []),
  ];
}

export function renderMarkdown(r: BenchResults): string {
  const m = r.machine;
  const c = r.create;
  const d = r.destroy;
  const q = r.concurrency;
  const o = r.overview;
  const lines: string[] = [];
  lines.push(`### Benchmark results (${r.db === "sqlite" ? "embedded SQLite" : "PostgreSQL"}${r.quick ? ", quick run" : ""})`);
  lines.push("");
  const costs = describeVmCosts(m);
  lines.push(
    `Measured ${m.date.slice(0, 10)} on ${m.cpuModel} × ${m.cpuCount}${m.cpuTraits ? ` (${describeCpuTraits(m.cpuTraits)})` : ""}, ${(m.memoryMb / 1024).toFixed(0)} GB RAM, ${m.os} (kernel ${m.kernel}), Node ${m.node}${m.serverNode && m.serverNode !== m.node ? ` (the app server on Node ${m.serverNode})` : ""}; ` +
      `load average ${m.loadAverageAtStart.join(" / ")} at start, ${m.loadAverageAtEnd?.join(" / ") ?? "?"} at end (the bench's own work counts in it, and so does anything else the machine ran meanwhile); ` +
      `over the whole run: ${describeCpuShares(m.cpuPercent)}${costs ? `; at the run's start → end (the VM's speed that hour): ${costs}` : ""}. ` +
      `Build VMs: loopback sshd, CPU ${r.vmCpu ?? "shared"} (\`--vms-cpu\`).`,
  );
  lines.push("");
  lines.push("| target | goal | latest | |");
  lines.push("| --- | --- | --- | --- |");
  for (const t of checkTargets(r)) lines.push(`| ${t.name} | ${t.target} | ${t.value} | ${ok(t.met)} |`);
  lines.push("");
  lines.push("| measurement | median | p95 | notes |");
  lines.push("| --- | ---: | ---: | --- |");
  lines.push(
    `| Create, sand-boxer (POST → SSE \`end\`, ready) | ${fmt(c.manager.median)} ms | ${fmt(c.manager.p95)} ms | ${c.repository.files.toLocaleString("en")} files, ${(c.repository.bytes / 2 ** 20).toFixed(1)} MiB, ${c.manager.n} runs |`,
  );
  lines.push(
    `| Create, script (\`ssh mkdir\` + \`rsync -az\`) | ${fmt(c.script.median)} ms | ${fmt(c.script.p95)} ms | interleaved with the above |`,
  );
  lines.push(
    `| **Create ratio** (sand-boxer / script) | **${fmt(c.ratioOfMedians, 2)}x** | ${fmt(c.ratioP95, 2)}x | median of per-pair ratios ${fmt(c.pairedRatioMedian, 2)}x |`,
  );
  lines.push(
    `| Destroy, sand-boxer (DELETE → SSE \`end\`, destroyed) | ${fmt(d.manager.median)} ms | ${fmt(d.manager.p95)} ms | = destroy latency as a client following the stream sees it |`,
  );
  lines.push(
    `| Destroy latency, polled (DELETE → GET every 25 ms sees \`destroyed\`) | ${fmt(d.polled.ms.median)} ms | ${fmt(d.polled.ms.p95)} ms | the state change itself, without the event stream |`,
  );
  lines.push(`| Destroy, script (\`ssh rm -rf\`) | ${fmt(d.script.median)} ms | ${fmt(d.script.p95)} ms | |`);
  lines.push(
    `| **Destroy ratio** (sand-boxer / script) | **${fmt(d.ratioOfMedians, 2)}x** | | median of per-pair ratios ${fmt(d.pairedRatioMedian, 2)}x |`,
  );
  const k = r.compose;
  lines.push(
    `| Compose create, sand-boxer (POST → SSE \`end\`, ready) | ${fmt(k.create.manager.median)} ms | ${fmt(k.create.manager.p95)} ms | ${k.composeCommand}, ${k.create.manager.n} runs |`,
  );
  lines.push(
    `| Compose create, script (\`ssh … docker-compose up -d\`) | ${fmt(k.create.script.median)} ms | ${fmt(k.create.script.p95)} ms | |`,
  );
  lines.push(
    `| **Compose create ratio** | **${fmt(k.create.ratioOfMedians, 2)}x** | | median of per-pair ratios ${fmt(k.create.pairedRatioMedian, 2)}x |`,
  );
  lines.push(
    `| Compose destroy, sand-boxer (DELETE → SSE \`end\`, destroyed) | ${fmt(k.destroy.manager.median)} ms | ${fmt(k.destroy.manager.p95)} ms | |`,
  );
  lines.push(
    `| Compose destroy, script (\`ssh … docker-compose down -v\`) | ${fmt(k.destroy.script.median)} ms | ${fmt(k.destroy.script.p95)} ms | |`,
  );
  lines.push(
    `| **Compose destroy ratio** | **${fmt(k.destroy.ratioOfMedians, 2)}x** | | median of per-pair ratios ${fmt(k.destroy.pairedRatioMedian, 2)}x |`,
  );
  lines.push(
    `| Overview \`GET /\` | ${fmt(o.page.median, 1)} ms | ${fmt(o.page.p95, 1)} ms | ${o.sandboxesSeeded.toLocaleString("en")} sandboxes (${o.activeSeeded} active), ${o.requestsPerUrl} requests, ${fmt(r.overviewQueriesPerRequest)} DB statements/request |`,
  );
  lines.push(
    `| \`GET /api/v1/sandboxes\` | ${fmt(o.api.median, 1)} ms | ${fmt(o.api.p95, 1)} ms | ${fmt(r.apiListQueriesPerRequest)} DB statements/request |`,
  );
  lines.push(
    `| ${q.creates} concurrent creates, wall time | ${fmt(q.wallMs)} ms | | ${q.failures} failures; per-create ${fmt(q.perCreateMs.median)} / ${fmt(q.perCreateMs.p95)} ms (median / p95) |`,
  );
  lines.push(
    `| sshd connections per VM, peak | ${Object.entries(q.peakConnectionsPerHost)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")} | | MaxStartups default 10:30:100; sandboxes per VM ${Object.entries(q.sandboxesPerHost)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}; sshd throttling log lines ${Object.values(q.sshdMaxStartupsLogLines).reduce((a, b) => a + b, 0)} |`,
  );
  lines.push(
    `| A create's POST → 202 while the ${q.creates} run, p50 / p95 | ${fmt(q.acceptedWhileBusyMs.median)} / ${fmt(q.acceptedWhileBusyMs.p95)} ms | ≤ 400 ms p95 | ${q.acceptedWhileBusyMs.n} creates one at a time, ${q.acceptedWhileBusyFailures} refused |`,
  );
  lines.push(
    `| ${q.creates} concurrent destroys, wall time | ${fmt(q.destroyWallMs)} ms | | ${q.destroyFailures} failures, ${q.workspacesLeftBehind} workspaces left behind |`,
  );
  lines.push(`| Server RSS idle | ${fmt(r.memory.rssIdleMb, 1)} MB | | process tree ${fmt(r.memory.rssIdleTreeMb, 1)} MB |`);
  lines.push(
    `| Server RSS peak (concurrency run) | ${fmt(r.memory.rssPeakMb, 1)} MB | | whole process tree incl. rsync/ssh; node alone ${fmt(r.memory.rssPeakServerMb, 1)} MB |`,
  );
  if (r.cliStartup) {
    const cs = r.cliStartup;
    lines.push(`| \`node -e 0\` (beside the CLI, same rounds) | ${fmt(cs.nodeMs, 1)} ms | | ${cs.runs} runs, whole process |`);
    lines.push(
      `| \`sandboxer --version\`, served bundle | ${fmt(cs.bundleVersionMs, 1)} ms | | +${fmt(cs.cliVersionOverNodeMs, 1)} ms over node |`,
    );
    if (cs.bundleListMs !== null)
      lines.push(
        `| \`sandboxer list\`, served bundle | ${fmt(cs.bundleListMs, 1)} ms | | +${fmt(cs.cliListOverNodeMs ?? Number.NaN, 1)} ms over node |`,
      );
    lines.push(
      `| \`sandboxer --version\` / \`list\`, checkout (bin/sandboxer.mjs, tsx) | ${fmt(cs.checkoutVersionMs, 1)} / ${fmt(cs.checkoutListMs ?? Number.NaN, 1)} ms | | without \`npx\`'s own start-up |`,
    );
  }
  if (r.dashboard) {
    const db = r.dashboard;
    lines.push(
      `| Create \`ready\` → shown on the overview (Chromium) | ${fmt(db.createShownMs.median)} ms | ${fmt(db.createShownMs.p95)} ms | ${db.runs} runs, local sandboxes |`,
    );
    lines.push(
      `| Destroy confirm click → \`destroyed\` shown (Chromium) | ${fmt(db.destroyShownMs.median)} ms | ${fmt(db.destroyShownMs.p95)} ms | sandbox page, ${db.runs} runs |`,
    );
    lines.push(
      `| ${db.idleTabs.tabs} idle overview tabs: statements/s beyond none | ${fmt(db.idleTabs.queriesPerSec, 2)} | | with ${fmt(db.idleTabs.withTabsPerSec, 2)}, without ${fmt(db.idleTabs.withoutTabsPerSec, 2)}; hub reads ${fmt(db.idleTabs.hubReadsPerSec, 2)}/s |`,
    );
  }
  if (c.breakdownMedianMs) {
    const b = c.breakdownMedianMs;
    lines.push("");
    lines.push(
      `Where a sand-boxer create's time goes (medians, from the sandbox's log timestamps): request → queued ${fmt(b.postToQueuedMs)} ms, ` +
        `queued → creating ${fmt(b.queuedToCreatingMs)} ms, → connecting ${fmt(b.creatingToConnectMs)} ms, mkdir ${fmt(b.mkdirMs)} ms, ` +
        `→ sync start ${fmt(b.createdToSyncMs)} ms, rsync ${fmt(b.rsyncMs)} ms, → ready ${fmt(b.syncedToReadyMs)} ms, ready → \`end\` event ${fmt(b.readyToEndEventMs)} ms. ` +
        `CPU of the server's node process and its spawner helper per create: ${fmt(c.serverCpu.duringManagerCreateMs.median)} ms during a sand-boxer create, ` +
        `${fmt(c.serverCpu.duringScriptCreateMs.median)} ms while the script runs (its rsync + ssh children: ${fmt(c.serverCpu.rsyncChildrenDuringManagerCreateMs.median)} ms).`,
    );
  }
  if (d.breakdownMedianMs) {
    const b = d.breakdownMedianMs;
    lines.push("");
    lines.push(
      `Where a sand-boxer destroy's time goes (medians): request → destroying ${fmt(b.deleteToDestroyingMs)} ms, ` +
        `destroying → worker starts ${fmt(b.destroyingToWorkerStartMs)} ms, remove ${fmt(b.removeMs)} ms, → destroyed ${fmt(b.removedToDestroyedMs)} ms, ` +
        `destroyed → \`end\` event ${fmt(b.destroyedToEndEventMs)} ms.`,
    );
  }
  if (r.clientNetworkRetries.length) {
    lines.push("");
    lines.push(
      `The bench client retried ${r.clientNetworkRetries.length} idempotent request(s) (GET/DELETE) after a connection-level failure: ${r.clientNetworkRetries.slice(0, 3).join("; ")}`,
    );
  }
  if (r.runFailures.length) {
    lines.push("");
    lines.push(`Run failures (${r.runFailures.length}): ${r.runFailures.slice(0, 5).join("; ")}`);
  }
  if (r.pools) lines.push(...renderPoolMarkdown(r as PoolBenchResults));
  lines.push("");
  return lines.join("\n");
}
