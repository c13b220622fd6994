// The warm-pool figures of the bench (bench/pools.ts): their shape in bench/results/latest.json and
// their part of latest.md and the README table.
import { describeCpuShares, type CpuShares } from "./machine";
import type { Summary } from "./stats";

/** The figures of one network setting (loopback or through the relay). */
export interface PoolVariantResults {
  rttMs: number;
  poolCreate: { manager: Summary; script: Summary; misses: number };
  /** `manager`: through the SSH gateway (the person's key registered); `managerDirect`: `run --direct`, straight to the VM. */
  run: {
    manager: Summary;
    managerDirect: Summary;
    scriptFresh: Summary;
    scriptReuse: Summary;
    /** `run` exits once its destroy is queued: from the CLI's exit until the sandbox was `destroyed` (older results: absent, `run` waited). */
    destroyedAfterExit?: Summary;
    misses: number;
    breakdownMedianMs: Record<string, number>;
  };
  poolConcurrent: { creates: number; wallMs: number; failures: number; hits: number };
  concurrentNoPool: { creates: number; wallMs: number; failures: number; scriptWallMs: number; scriptFailures: number };
  personCreate: { idle: Summary; duringRefill: Summary };
  /** A create for another git ref: a pool member moved on the VM vs a fresh clone (POST → ready). */
  refMove: { moved: Summary; freshClone: Summary; misses: number };
  /** How busy the machine was while this part ran (its own work included). */
  machine?: { loadAverageAtStart: number[]; loadAverageAtEnd: number[]; cpuPercent?: CpuShares };
}

export interface PoolBenchResults {
  poolCreateP50Ms: number;
  poolCreateRatio: number;
  runPoolRatioFresh: number;
  runPoolRatioReuse: number;
  /** `run --direct` (no gateway) ÷ the fresh script: reported, not a target. */
  runPoolRatioFreshDirect: number;
  poolConcurrentWallMs: number;
  concurrentRatioVsScript: number;
  poolCreateP50MsRtt20: number;
  poolCreateRatioRtt20: number;
  runPoolRatioFreshRtt20: number;
  runPoolRatioReuseRtt20: number;
  runPoolRatioFreshDirectRtt20: number;
  poolConcurrentWallMsRtt20: number;
  concurrentRatioVsScriptRtt20: number;
  poolRefMoveMs: number;
  freshCloneMs: number;
  poolRefMoveMsRtt20: number;
  freshCloneMsRtt20: number;
  pools: {
    loopback: PoolVariantResults;
    rtt20: PoolVariantResults;
    poolSize: number;
    hitRate: number;
    repository: { files: number; bytes: number };
    method: string;
  };
}

const fmt = (v: number, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : "—");
const ok = (met: boolean) => (met ? "✓" : "✗");

/** The issue-17 targets, at loopback and at the relay's round trip. */
export function poolTargets(r: PoolBenchResults): { name: string; target: string; value: string; met: boolean }[] {
  const rows = [];
  for (const [suffix, label] of [
    ["", "loopback"],
    ["Rtt20", `${r.pools.rtt20.rttMs} ms RTT`],
  ] as const) {
    const g = (k: string) => (r as unknown as Record<string, number>)[`${k}${suffix}`]!;
    rows.push(
      {
        name: `Create from a warm pool, POST → ready, p50 (${label})`,
        target: "≤ 100 ms",
        value: `${fmt(g("poolCreateP50Ms"), 1)} ms`,
        met: g("poolCreateP50Ms") <= 100,
      },
      {
        name: `… vs script mkdir + rsync (${label})`,
        target: "≤ 0.05x",
        value: `${fmt(g("poolCreateRatio"), 3)}x`,
        met: g("poolCreateRatio") <= 0.05,
      },
      {
        name: `\`run -- true\`, pool hit, 10 files differ, vs script into a fresh dir (${label})`,
        target: "≤ 0.4x",
        value: `${fmt(g("runPoolRatioFresh"), 2)}x (\`--direct\` ${fmt(g("runPoolRatioFreshDirect"), 2)}x)`,
        met: g("runPoolRatioFresh") <= 0.4,
      },
      {
        name: `… vs script reusing one dir (${label})`,
        target: "≤ 2.0x",
        value: `${fmt(g("runPoolRatioReuse"), 2)}x`,
        met: g("runPoolRatioReuse") <= 2.0,
      },
      {
        name: `${r.pools.loopback.poolConcurrent.creates} creates at once from the pool, wall (${label})`,
        target: "≤ 1 s, 0 failures",
        value: `${fmt(g("poolConcurrentWallMs"))} ms`,
        met: g("poolConcurrentWallMs") <= 1000 && (suffix ? r.pools.rtt20 : r.pools.loopback).poolConcurrent.failures === 0,
      },
      {
        name: `… without a pool vs script under xargs -P 8 (${label})`,
        target: "≤ 1.0x",
        value: `${fmt(g("concurrentRatioVsScript"), 2)}x`,
        met: g("concurrentRatioVsScript") <= 1.0,
      },
    );
  }
  return rows;
}

export function renderPoolMarkdown(r: PoolBenchResults): string[] {
  const lines = ["", `#### Warm pools and round trips (pool of ${r.pools.poolSize}, hit rate ${fmt(r.pools.hitRate * 100)} %)`, ""];
  lines.push("| target | goal | latest | |", "| --- | --- | --- | --- |");
  for (const t of poolTargets(r)) lines.push(`| ${t.name} | ${t.target} | ${t.value} | ${ok(t.met)} |`);
  lines.push("", "| measurement | loopback | " + `${r.pools.rtt20.rttMs} ms RTT |`, "| --- | ---: | ---: |");
  const L = r.pools.loopback;
  const R = r.pools.rtt20;
  const row = (name: string, a: number, b: number) => lines.push(`| ${name} | ${fmt(a)} ms | ${fmt(b)} ms |`);
  row("pool create p50 (POST → ready)", L.poolCreate.manager.median, R.poolCreate.manager.median);
  row("script create p50", L.poolCreate.script.median, R.poolCreate.script.median);
  row("`sandboxer run -- true` p50 (whole CLI process, through the SSH gateway)", L.run.manager.median, R.run.manager.median);
  if (L.run.managerDirect && R.run.managerDirect)
    row("`sandboxer run --direct -- true` p50 (straight to the VM's sshd)", L.run.managerDirect.median, R.run.managerDirect.median);
  row("script fresh dir p50", L.run.scriptFresh.median, R.run.scriptFresh.median);
  row("script reused dir p50", L.run.scriptReuse.median, R.run.scriptReuse.median);
  if (L.run.destroyedAfterExit && R.run.destroyedAfterExit)
    row(
      "`run`'s sandbox destroyed, after the CLI exited, p50 (the server's work)",
      L.run.destroyedAfterExit.median,
      R.run.destroyedAfterExit.median,
    );
  row("concurrent from pool, wall", L.poolConcurrent.wallMs, R.poolConcurrent.wallMs);
  row("concurrent without pool, wall", L.concurrentNoPool.wallMs, R.concurrentNoPool.wallMs);
  row("script × N under xargs -P 8, wall", L.concurrentNoPool.scriptWallMs, R.concurrentNoPool.scriptWallMs);
  row("a person's create, idle, p50", L.personCreate.idle.median, R.personCreate.idle.median);
  row("a person's create while refills run, p50", L.personCreate.duringRefill.median, R.personCreate.duringRefill.median);
  if (L.refMove && R.refMove) {
    row("create for another git ref, pool member moved, p50 (POST → ready)", L.refMove.moved.median, R.refMove.moved.median);
    row("create for another git ref, fresh clone, p50 (POST → ready)", L.refMove.freshClone.median, R.refMove.freshClone.median);
  }
  lines.push(
    "",
    `\`run\` breakdown (loopback, medians): ${Object.entries(L.run.breakdownMedianMs)
      .map(([k, v]) => `${k} ${fmt(v)} ms`)
      .join(", ")}`,
  );
  for (const [name, v] of [
    ["loopback", L],
    [`${R.rttMs} ms RTT`, R],
  ] as const) {
    if (v.machine)
      lines.push(
        "",
        `While the ${name} part ran: load average ${v.machine.loadAverageAtStart.join(" / ")} → ${v.machine.loadAverageAtEnd.join(" / ")}; ${describeCpuShares(v.machine.cpuPercent)}.`,
      );
  }
  return lines;
}
