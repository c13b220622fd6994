// What the numbers were measured on, and how busy the machine was meanwhile.
import fs from "node:fs";
import os from "node:os";

export interface Machine {
  cpuModel: string;
  cpuCount: number;
  memoryMb: number;
  os: string;
  kernel: string;
  node: string;
  date: string;
  loadAverageAtStart: number[];
  loadAverageAtEnd?: number[];
  /** Other processes running at start (a rough measure of how noisy the machine was). */
  processesAtStart: number;
  note: string;
}

function osName(): string {
  try {
    const text = fs.readFileSync("/etc/os-release", "utf8");
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text)?.[1] ?? os.type();
  } catch {
    return os.type();
  }
}

export function describeMachine(): Machine {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    cpuCount: cpus.length,
    memoryMb: Math.round(os.totalmem() / 2 ** 20),
    os: osName(),
    kernel: os.release(),
    node: process.version,
    date: new Date().toISOString(),
    loadAverageAtStart: os.loadavg().map((l) => Math.round(l * 100) / 100),
    processesAtStart: fs.readdirSync("/proc").filter((e) => /^\d+$/.test(e)).length,
    note:
      "Shared, noisy machine: other engineers' test suites (sshd, next build, vitest, Playwright) may run in parallel. " +
      "Create/destroy are interleaved (manager, script, manager, script…) so drift hits both sides alike; compare ratios, not absolute times.",
  };
}
