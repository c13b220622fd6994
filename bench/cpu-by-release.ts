// Server CPU per create on the machine's Node and on the recommended release (.node-recommended), in
// alternating pairs of `npm run bench -- --only create --windows` (the second through
// scripts/with-node.sh; the first with SANDBOXER_RUNTIME=system, so npm start's server runtime does not
// stand in for the machine's Node), so drift in the machine's load hits both alike. Prints each run's schedstat
// total and the medians, and writes <out>/<name>.json. What issue 17's CPU target needs from each kind
// of VM (docs/performance.md, "Server CPU per create: the Node release").
//
//   npm run bench:releases -- [--pairs N] [--runs N] [--seasoned N] [--out DIR] [--name NAME]
//
// About five minutes a pair (two create-only runs of 15 creates after 5 warm-ups); --seasoned N first
// runs N quick creates on each server (bench/run.ts --seasoned: a server that has run a while, ~1 s a
// create). Nothing else should run meanwhile.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

import { describeMachine, loadAverage } from "./lib/machine";
import { positiveInt } from "./lib/options";
import { median, round } from "./lib/stats";

const REPO_ROOT = path.resolve(import.meta.dirname, "..");

interface Run {
  node: string;
  /** schedstat CPU of the server's threads per create window, median over the run (ms). */
  totalMs: number;
  mainMs: number;
  statements: number;
  load: [number, number];
}

function runBench(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: REPO_ROOT, env, stdio: ["ignore", "inherit", "inherit"] });
    child.once("error", reject);
    child.once("close", (code) => (code === 0 ? resolve() : reject(new Error(`${argv.join(" ")} exited with ${code}`))));
  });
}

function readRun(file: string): Run {
  const r = JSON.parse(fs.readFileSync(file, "utf8")) as {
    windows: { statements: { median: number }; threadsMs: Record<string, { median: number }> } | null;
    machine: { node: string; serverNode?: string; loadAverageAtStart: number[]; loadAverageAtEnd?: number[] };
  };
  if (!r.windows) throw new Error(`${file} has no create windows (was it run with --windows?)`);
  return {
    node: r.machine.serverNode ?? r.machine.node,
    totalMs: r.windows.threadsMs.total?.median ?? NaN,
    mainMs: r.windows.threadsMs.main?.median ?? NaN,
    statements: r.windows.statements.median,
    load: [r.machine.loadAverageAtStart[0] ?? NaN, r.machine.loadAverageAtEnd?.[0] ?? NaN],
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      pairs: { type: "string" },
      runs: { type: "string" },
      seasoned: { type: "string" },
      out: { type: "string" },
      name: { type: "string" },
    },
  });
  const pairs = positiveInt("pairs", values.pairs, 3);
  const runs = positiveInt("runs", values.runs, 15);
  const seasoned = positiveInt("seasoned", values.seasoned, 0, 0);
  const outDir = path.resolve(values.out ?? path.join(REPO_ROOT, "bench", "results"));
  const name = values.name ?? "cpu-by-release";
  if (!/^[\w.-]+$/.test(name)) throw new Error(`--name must be a file name without a directory, not ${JSON.stringify(name)}`);
  const release = fs.readFileSync(path.join(REPO_ROOT, ".node-recommended"), "utf8").trim();
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `sandboxer-${name}-`));
  const machine = describeMachine();
  const byRelease: Record<string, Run[]> = { installed: [], recommended: [] };
  try {
    for (let i = 1; i <= pairs; i++) {
      for (const side of ["installed", "recommended"] as const) {
        const bench = ["npm", "run", "bench", "--", "--only", "create", "--windows", "--runs", String(runs), "--warmup", "5"];
        if (seasoned > 0) bench.push("--seasoned", String(seasoned));
        const argv = [...(side === "recommended" ? [path.join(REPO_ROOT, "scripts", "with-node.sh"), release] : []), ...bench];
        argv.push("--out", scratch, "--name", `${side}-${i}`);
        console.log(`[cpu-by-release] pair ${i}/${pairs}: ${side === "installed" ? `Node ${process.version}` : `Node ${release}`}`);
        // The machine's side keeps its server off the server runtime npm ci may have set up (scripts/server-node.sh).
        await runBench(argv, side === "installed" ? { ...process.env, SANDBOXER_RUNTIME: "system" } : process.env);
        const run = readRun(path.join(scratch, `${side}-${i}.json`));
        byRelease[side]!.push(run);
        console.log(
          `[cpu-by-release]   ${run.node}: ${run.totalMs} ms per create (main thread ${run.mainMs}), load ${run.load.join(" → ")}`,
        );
      }
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  const summary = Object.fromEntries(
    Object.entries(byRelease).map(([side, rs]) => [
      side,
      { node: rs[0]?.node, perCreateMs: rs.map((r) => r.totalMs), medianMs: round(median(rs.map((r) => r.totalMs)), 1), runs: rs },
    ]),
  );
  const result = {
    machine: { ...machine, loadAverageAtEnd: loadAverage() },
    runsPerBench: runs,
    seasoned,
    target: { perCreateMs: 60 },
    ...summary,
  };
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `${name}.json`);
  fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  for (const [side, s] of Object.entries(summary))
    console.log(
      `[cpu-by-release] ${side} (${s.node}): ${s.perCreateMs.join(", ")} ms per create; median ${s.medianMs} ms ` +
        `(target ≤ 60: ${s.medianMs <= 60 ? "met" : "missed"}) on ${machine.cpuModel} × ${machine.cpuCount}`,
    );
  console.log(`[cpu-by-release] results: ${path.relative(process.cwd(), file)}`);
}

main().catch((e: unknown) => {
  console.error(`[cpu-by-release] ${(e as Error).message}`);
  process.exit(1);
});
