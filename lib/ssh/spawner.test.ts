// The spawner on real processes: output and exit codes come through complete and in order, signals
// reach the process group, a missing program is an error, and the processes are the helper's
// children, not this process's (which is the point: no fork of a big server).
import fs from "node:fs";

import { afterAll, describe, expect, it } from "vitest";

import { spawnTransfer, spawnerForTests, type TransferProcess } from "./spawner";

function outcome(p: TransferProcess) {
  let stdout = "";
  let stderr = "";
  let error: Error | null = null;
  p.stdout?.setEncoding("utf8");
  p.stdout?.on("data", (d: string) => (stdout += d));
  p.stderr.setEncoding("utf8");
  p.stderr.on("data", (d: string) => (stderr += d));
  p.on("error", (e: Error) => (error = e));
  return new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string; error: Error | null }>((resolve) =>
    p.on("close", (code: number | null, signal: string | null) => resolve({ code, signal, stdout, stderr, error })),
  );
}

const parentOf = (pid: number) => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
};

describe("spawnTransfer", () => {
  afterAll(() => spawnerForTests.stop());

  it("relays stdout, stderr and the exit code; the process is the helper's child", async () => {
    const p = spawnTransfer("sh", ["-c", 'echo "out $X"; echo err >&2; sleep 0.2; exit 3'], { env: { PATH: process.env.PATH, X: "x1" } });
    const done = outcome(p);
    await new Promise<void>((r) => p.once("spawn", () => r()));
    expect(p.pid).toBeGreaterThan(0);
    const helperPid = spawnerForTests.pid();
    expect(helperPid).not.toBeNull();
    expect(helperPid).not.toBe(process.pid);
    expect(parentOf(p.pid!)).toBe(helperPid);
    expect(await done).toEqual({ code: 3, signal: null, stdout: "out x1\n", stderr: "err\n", error: null });
  });

  it("many small writes arrive complete and in order, before close", async () => {
    const r = await outcome(
      spawnTransfer("sh", ["-c", "seq 1 20000 | while read n; do printf '%s\\r' $n; done; echo"], { env: { PATH: process.env.PATH } }),
    );
    expect(r.code).toBe(0);
    const seen = r.stdout.trim().split("\r");
    expect(seen).toHaveLength(20000);
    expect(seen.at(0)).toBe("1");
    expect(seen.at(-1)).toBe("20000");
  });

  it("a signal asked for at once reaches the detached process group; a niced child runs below us", async () => {
    const p = spawnTransfer("sh", ["-c", "sleep 30 & wait"], { env: { PATH: process.env.PATH }, detached: true, lowPriority: true });
    const done = outcome(p);
    p.kill("SIGTERM", { group: true }); // before the pid is known: queued, then sent
    const r = await done;
    expect(r.signal).toBe("SIGTERM");
    const p2 = spawnTransfer("sleep", ["5"], { env: { PATH: process.env.PATH }, detached: true, lowPriority: true });
    const done2 = outcome(p2);
    await new Promise<void>((resolve) => p2.once("spawn", () => resolve()));
    const nice = Number(fs.readFileSync(`/proc/${p2.pid}/stat`, "utf8").split(") ")[1]!.split(" ")[16]);
    expect(nice).toBeGreaterThanOrEqual(10);
    p2.kill("SIGKILL", { group: true });
    expect((await done2).signal).toBe("SIGKILL");
  });

  it("stdout can go to a file (no pipe to read), created 0600", async () => {
    const dir = fs.mkdtempSync("/tmp/spawner-test-");
    const file = `${dir}/out`;
    const p = spawnTransfer("sh", ["-c", "seq 1 3; echo err >&2"], { env: { PATH: process.env.PATH }, stdoutFile: file });
    expect(p.stdout).toBeNull();
    const r = await outcome(p);
    expect(r).toMatchObject({ code: 0, stderr: "err\n" });
    expect(fs.readFileSync(file, "utf8")).toBe("1\n2\n3\n");
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    fs.rmSync(dir, { recursive: true });
  });

  it("a program that does not exist is an error, then close", async () => {
    const r = await outcome(spawnTransfer("/nonexistent/rsync", ["-a"], { env: { PATH: process.env.PATH } }));
    expect(r.error?.message).toMatch(/ENOENT/);
    expect(r.code).not.toBe(0);
  });

  it("when the helper dies, what it ran is reported killed and the next spawn starts a new helper", async () => {
    const p = spawnTransfer("sleep", ["30"], { env: { PATH: process.env.PATH } });
    const done = outcome(p);
    await new Promise<void>((r) => p.once("spawn", () => r()));
    const first = spawnerForTests.pid()!;
    process.kill(first, "SIGKILL");
    const r = await done;
    expect(r.signal).toBe("SIGKILL");
    expect(r.error?.message).toMatch(/spawner helper/);
    const again = await outcome(spawnTransfer("sh", ["-c", "echo ok"], { env: { PATH: process.env.PATH } }));
    expect(again.stdout).toBe("ok\n");
    expect(spawnerForTests.pid()).not.toBe(first);
  });
});

describe("spawnTransfer when the server dies", () => {
  it("a SIGKILLed server takes its helper and the helper's processes with it", async () => {
    const { spawn } = await import("node:child_process");
    const path = await import("node:path");
    const script = [
      `const { spawnTransfer, spawnerForTests } = await import(${JSON.stringify(path.join(import.meta.dirname, "spawner.ts"))});`,
      `const p = spawnTransfer("sleep", ["60"], { env: { PATH: process.env.PATH }, detached: true });`,
      `p.on("spawn", () => console.log(JSON.stringify({ helper: spawnerForTests.pid(), child: p.pid })));`,
      `setInterval(() => {}, 1000);`,
    ].join("\n");
    const server = spawn(process.execPath, ["--conditions=react-server", "--import", "tsx", "--input-type=module", "-e", script], {
      cwd: path.join(import.meta.dirname, "..", ".."),
      stdio: ["ignore", "pipe", "inherit"],
    });
    const pids = await new Promise<{ helper: number; child: number }>((resolve, reject) => {
      server.stdout.on("data", (d: Buffer) => resolve(JSON.parse(d.toString()) as { helper: number; child: number }));
      server.on("exit", () => reject(new Error("the test server exited early")));
    });
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return !fs.readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
      } catch {
        return false;
      }
    };
    expect(alive(pids.helper)).toBe(true);
    expect(alive(pids.child)).toBe(true);
    server.kill("SIGKILL");
    const deadline = Date.now() + 5_000;
    while ((alive(pids.helper) || alive(pids.child)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(alive(pids.helper)).toBe(false);
    expect(alive(pids.child)).toBe(false);
  }, 20_000);
});
