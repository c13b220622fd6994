// Test harness: a private, real Docker engine, started the way build-vms.ts starts sshd. Its own
// dockerd (Debian's docker.io, run as root) with its own --data-root, --exec-root, pid file and unix
// socket under a fresh state directory; the socket's group is the test user's, so the build user of
// the loopback "VMs" may use it (what the `docker` group grants on a real host). No registry is
// reachable, so the one image, `local/busybox:1`, is made offline: a root filesystem holding the
// static busybox and its applet links, through `docker import`. Services in tests use host networking
// bound to 127.0.0.1 and `init: true` (busybox as PID 1 ignores SIGTERM).
//
// stop() removes every container, stops dockerd by its pid (its containerd goes with it), unmounts
// whatever it left mounted under the state directory and removes the directory: nothing is left
// behind. If dockerd cannot start, startDockerEngine throws with dockerd's own last lines — the tests
// fail with that message, they are never skipped.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, readdirSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile, copyFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { ensureTestUser, run, type RunResult } from "./build-vms";

const DOCKERD = "/usr/sbin/dockerd";
const BUSYBOX = "/bin/busybox";
const START_TIMEOUT_MS = 60_000;
export const TEST_IMAGE = "local/busybox:1";

export interface DockerEngine {
  /** The state directory: data/, exec/, docker.sock, dockerd.pid, dockerd.log. */
  dir: string;
  socket: string;
  /** `unix://<socket>`: DOCKER_HOST for clients. */
  dockerHost: string;
  pid: number;
  /** The offline image every test service uses. */
  image: string;
  /** Runs `docker <args>` against this engine (as root, for assertions and setup). */
  docker(args: readonly string[], opts?: { timeoutMs?: number }): Promise<RunResult>;
  /** Like docker(), but throws with docker's message on a non-zero exit. */
  mustDocker(args: readonly string[], opts?: { timeoutMs?: number }): Promise<string>;
  stop(): Promise<void>;
}

const running = new Set<{ pid: number; child: ChildProcess }>();
let exitHookInstalled = false;

/** PIDs of every descendant of `pid` (from /proc), synchronously: usable in an exit hook. */
function descendantsSync(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      // Gone meanwhile.
    }
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) {
    for (const c of parents.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

function kill(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A test process that dies without its afterAll must not leave a daemon running: kill ours, by PID.
  process.once("exit", () => {
    for (const r of running) {
      for (const p of descendantsSync(r.pid)) kill(p, "SIGKILL");
      kill(r.pid, "SIGKILL");
    }
  });
}

/** Mount points at or under `dir`, deepest first. */
function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .map((m) => m.replace(/\\040/g, " "))
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** The tiny root filesystem: /bin/busybox (static), a link per applet, /www/index.html, /tmp. */
async function buildRootfs(dir: string): Promise<void> {
  const file = await run(["file", "-L", BUSYBOX]);
  if (file.code === 0 && !/statically linked/.test(file.stdout)) {
    throw new Error(
      `${BUSYBOX} is not statically linked (${file.stdout.trim()}): install busybox-static (scripts/install-test-packages.sh)`,
    );
  }
  await mkdir(path.join(dir, "bin"), { recursive: true });
  await mkdir(path.join(dir, "www"), { recursive: true });
  await mkdir(path.join(dir, "tmp"), { recursive: true, mode: 0o1777 });
  await copyFile(BUSYBOX, path.join(dir, "bin", "busybox"));
  await chmod(path.join(dir, "bin", "busybox"), 0o755);
  const list = await run([BUSYBOX, "--list"]);
  if (list.code !== 0) throw new Error(`${BUSYBOX} --list failed: ${list.stderr.trim()}`);
  for (const applet of list.stdout.split("\n").filter((a) => /^[a-z0-9_.[-]+$/.test(a) && a !== "busybox")) {
    await symlink("busybox", path.join(dir, "bin", applet)).catch(() => {});
  }
  await writeFile(path.join(dir, "www", "index.html"), "sand-boxer test page\n");
}

/** Starts a private dockerd (needs root) and imports the test image. Stop it with {@link DockerEngine.stop}. */
export async function startDockerEngine(opts: { user?: string; dir?: string } = {}): Promise<DockerEngine> {
  if (!existsSync(DOCKERD)) throw new Error(`${DOCKERD} is missing: install docker.io (scripts/install-test-packages.sh)`);
  const { gid } = await ensureTestUser(opts.user);
  installExitHook();
  // `dir` (which must not exist yet) when the socket path has to be known in advance (the bench's profile names it).
  const dir = opts.dir ?? (await mkdtemp(path.join(tmpdir(), "sbx-docker-")));
  if (opts.dir) await mkdir(opts.dir, { mode: 0o755 });
  // The build user reaches the socket through this directory.
  await chmod(dir, 0o755);
  const socket = path.join(dir, "docker.sock");
  const dockerHost = `unix://${socket}`;
  const logPath = path.join(dir, "dockerd.log");
  const log = openSync(logPath, "a");
  const child = spawn(
    DOCKERD,
    [
      "--data-root",
      path.join(dir, "data"),
      "--exec-root",
      path.join(dir, "exec"),
      "--pidfile",
      path.join(dir, "dockerd.pid"),
      "--host",
      dockerHost,
      "--group",
      String(gid),
      // Host networking only: no bridge, no iptables rules on the machine, no userland proxy.
      "--bridge",
      "none",
      "--iptables=false",
      "--ip-masq=false",
      "--userland-proxy=false",
      "--log-level",
      "warn",
    ],
    { stdio: ["ignore", log, log], env: { ...process.env, PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } },
  );
  closeSync(log);
  const entry = { pid: child.pid ?? 0, child };
  running.add(entry);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  const docker = (args: readonly string[], o: { timeoutMs?: number } = {}) =>
    run(["env", `DOCKER_HOST=${dockerHost}`, "docker", ...args], { timeoutMs: o.timeoutMs ?? 60_000 });
  const mustDocker = async (args: readonly string[], o: { timeoutMs?: number } = {}) => {
    const r = await docker(args, o);
    if (r.code !== 0) throw new Error(`docker ${args.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
    return r.stdout;
  };

  const stop = async (): Promise<void> => {
    if (running.has(entry)) {
      if (child.exitCode === null && child.signalCode === null) {
        const ids = (await docker(["ps", "-a", "-q"], { timeoutMs: 20_000 })).stdout.split("\n").filter(Boolean);
        if (ids.length) await docker(["rm", "-f", ...ids], { timeoutMs: 30_000 });
        kill(entry.pid, "SIGTERM");
        const timer = setTimeout(() => {
          for (const p of descendantsSync(entry.pid)) kill(p, "SIGKILL");
          kill(entry.pid, "SIGKILL");
        }, 20_000);
        await exited;
        clearTimeout(timer);
      }
      running.delete(entry);
    }
    for (const m of mountsUnder(dir)) {
      const r = await run(["umount", m]);
      if (r.code !== 0) await run(["umount", "-l", m]);
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const deadline = Date.now() + START_TIMEOUT_MS;
    let last = "";
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`dockerd exited (${child.exitCode ?? child.signalCode}) while starting: ${await tailOf(logPath)}`);
      }
      if (existsSync(socket)) {
        const r = await docker(["version", "--format", "{{.Server.Version}}"], { timeoutMs: 10_000 });
        if (r.code === 0) break;
        last = r.stderr.trim();
      }
      if (Date.now() > deadline) {
        throw new Error(`dockerd did not answer on ${socket} within ${START_TIMEOUT_MS / 1000} s (${last}): ${await tailOf(logPath)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const rootfs = path.join(dir, "rootfs");
    await buildRootfs(rootfs);
    const imported = await run(
      ["sh", "-c", 'tar -C "$1" -c . | env DOCKER_HOST="$2" docker import - "$3"', "sh", rootfs, dockerHost, TEST_IMAGE],
      {
        timeoutMs: 60_000,
      },
    );
    if (imported.code !== 0) throw new Error(`docker import of ${TEST_IMAGE} failed: ${imported.stderr.trim()}`);
    await rm(rootfs, { recursive: true, force: true });
    return { dir, socket, dockerHost, pid: entry.pid, image: TEST_IMAGE, docker, mustDocker, stop };
  } catch (e) {
    await stop().catch(() => {});
    throw e;
  }
}

async function tailOf(file: string): Promise<string> {
  const text = await readFile(file, "utf8").catch(() => "");
  return text.trim().split("\n").slice(-5).join(" | ") || "(no output)";
}
