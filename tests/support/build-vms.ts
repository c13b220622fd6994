// Test harness: throwaway OpenSSH "build VMs" on loopback. Each VM is its own `sshd -D` process with
// its own host key (so host-key tests are real), listening on one 127.0.0.0/8 address:port, with a
// test user, a workspace root laid out like the real `/build`, and client-side files (identity,
// plain and hashed known_hosts, an ssh_config). MaxStartups and MaxSessions are left at OpenSSH's
// defaults, because that is what real VMs run. Ported from shared/reference/start-build-vm.sh.
// Needs root (useradd, runuser, sshd); talks only to loopback.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync } from "node:fs";
import { chmod, chown, copyFile, lchown, mkdir, mkdtemp, readFile, readdir, rm, rmdir, symlink, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

import type { SshConfig } from "@/lib/ssh";

const SSHD = "/usr/sbin/sshd";
const DEFAULT_USER = "sbxtest";
const BANNER_TIMEOUT_MS = 10_000;

export interface BuildVmSpec {
  /** Lowercase letters, digits and dashes; also the VM's directory name under the state dir. */
  name: string;
  /** A 127.0.0.0/8 address. */
  address: string;
  /** Omit (or 0) to pick a free port, retrying if another process grabs it first. */
  port?: number;
  /** Extra sshd_config lines, e.g. { MaxSessions: "2" }, for tests of server limits. */
  sshdOptions?: Record<string, string>;
}

export interface BuildVm {
  name: string;
  host: string;
  port: number;
  user: string;
  /** Owned by the test user; the VM's `/build`. */
  workspaceRoot: string;
  /** `SHA256:…` of the current host key (updated by restartVm). */
  hostKeyFingerprint: string;
  /** `ssh-ed25519 AAAA…` of the current host key. */
  hostPublicKeyLine: string;
  /** PID of the listening sshd (0 while stopped). */
  pid: number;
  dir: string;
  hostKeyPath: string;
  sshdConfigPath: string;
  logPath: string;
  /** @internal */
  process?: ChildProcess;
  /** @internal */
  sshdOptions: Record<string, string>;
  /** @internal The CPU control group its sshd runs in (see startBuildVms' `lowCpuShare`). */
  cpuGroup: string | null;
}

export interface BuildVms {
  vms: BuildVm[];
  user: string;
  stateDir: string;
  identityFile: string;
  /** `ssh-ed25519 AAAA… sbx-client` (in authorized_keys). */
  identityPublicKey: string;
  authorizedKeysPath: string;
  knownHostsPath: string;
  hashedKnownHostsPath: string;
  sshConfigPath: string;
  /** The VM with this name (throws if there is none). */
  vm(name: string): BuildVm;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const started = new Set<BuildVms>();

// A test process that dies without its afterAll must not leave daemons listening: kill what is
// still ours, by PID, on the way out (their sessions end with our sockets).
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const set of started) for (const vm of set.vms) if (vm.pid) signal(vm.pid, "SIGKILL");
  });
}

function isLoopbackV4(address: string): boolean {
  const parts = address.split(".");
  return parts.length === 4 && parts[0] === "127" && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

function assertLoopback(address: string): void {
  if (!isLoopbackV4(address)) throw new Error(`test hosts must be on 127.0.0.0/8, not ${address}`);
}

/** Runs a program (argv, never a shell string) and returns its exit code and output. */
export function run(argv: readonly string[], opts: { timeoutMs?: number; cwd?: string; input?: string } = {}): Promise<RunResult> {
  const [file, ...args] = argv;
  if (!file) throw new Error("run() needs a program");
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { timeout: opts.timeoutMs ?? 30_000, cwd: opts.cwd, maxBuffer: 64 * 1024 * 1024, encoding: "utf8" },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
        resolve({ code, stdout, stderr: stderr || (err && code === null ? err.message : "") });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

async function mustRun(argv: readonly string[], opts: { timeoutMs?: number } = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new Error(`${argv.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Runs argv as `user` on the "VM" (this machine) via runuser, for assertions and setup. */
export function runAs(user: string, argv: readonly string[], opts: { timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  return run(["runuser", "-u", user, "--", ...argv], { cwd: opts.cwd ?? "/", timeoutMs: opts.timeoutMs });
}

/** A port nobody listens on at `host` right now (the OS picks it; it may be taken later by someone else). */
export async function freeLoopbackPort(host = "127.0.0.1"): Promise<number> {
  assertLoopback(host);
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface SilentTcpServer {
  host: string;
  port: number;
  close(): Promise<void>;
}

/** Accepts TCP connections and never says a word: a hung host, for handshake timeouts. */
export async function startSilentTcpServer(host = "127.0.0.1"): Promise<SilentTcpServer> {
  assertLoopback(host);
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    srv.once("error", reject);
    srv.listen(0, host, () => resolve());
  });
  const addr = srv.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    host,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        srv.close(() => resolve());
      }),
  };
}

async function userExists(user: string): Promise<boolean> {
  return (await run(["id", "-u", user])).code === 0;
}

// Other test files create the same user at the same time; useradd/usermod fail while another holds
// the /etc/passwd lock, so retry.
async function withLockRetry(argv: readonly string[], done: () => Promise<boolean>): Promise<void> {
  let last = "";
  for (let i = 0; i < 40; i++) {
    if (await done()) return;
    const r = await run(argv);
    if (r.code === 0 || (await done())) return;
    last = r.stderr.trim();
    await new Promise((res) => setTimeout(res, 50 + Math.random() * 150));
  }
  throw new Error(`${argv.join(" ")} kept failing: ${last}`);
}

async function passwordField(user: string): Promise<string | undefined> {
  const shadow = await readFile("/etc/shadow", "utf8");
  return shadow
    .split("\n")
    .find((l) => l.startsWith(`${user}:`))
    ?.split(":")[1];
}

/** Creates the test user like a build VM has it: a home, bash, and an account sshd will let in. */
export async function ensureTestUser(user = DEFAULT_USER): Promise<{ uid: number; gid: number }> {
  if (!/^[a-z_][a-z0-9_-]{0,30}$/.test(user)) throw new Error(`bad test user name ${user}`);
  await withLockRetry(["useradd", "-m", "-s", "/bin/bash", user], () => userExists(user));
  // useradd leaves the account locked ("!"), which sshd refuses when UsePAM is off.
  await withLockRetry(["usermod", "-p", "*", user], async () => (await passwordField(user)) === "*");
  const uid = Number((await mustRun(["id", "-u", user])).trim());
  const gid = Number((await mustRun(["id", "-g", user])).trim());
  return { uid, gid };
}

async function readBanner(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    let data = "";
    const done = (v: string): void => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(1_000, () => done(data));
    s.on("data", (d: Buffer) => {
      data += d.toString("latin1");
      if (data.length >= 7) done(data);
    });
    s.on("error", () => done(""));
    s.on("close", () => done(data));
  });
}

async function fingerprintOf(pubPath: string): Promise<string> {
  const out = await mustRun(["ssh-keygen", "-lf", pubPath, "-E", "sha256"]);
  const fp = out.split(/\s+/)[1];
  if (!fp?.startsWith("SHA256:")) throw new Error(`unexpected ssh-keygen output: ${out}`);
  return fp;
}

async function writeHostKey(vm: BuildVm): Promise<void> {
  await rm(vm.hostKeyPath, { force: true });
  await rm(`${vm.hostKeyPath}.pub`, { force: true });
  await mustRun(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", `sbx-host-${vm.name}`, "-f", vm.hostKeyPath]);
  const pub = (await readFile(`${vm.hostKeyPath}.pub`, "utf8")).trim().split(/\s+/);
  vm.hostPublicKeyLine = `${pub[0]} ${pub[1]}`;
  vm.hostKeyFingerprint = await fingerprintOf(`${vm.hostKeyPath}.pub`);
}

function sshdConfig(vm: BuildVm, authorizedKeysPath: string): string {
  const lines: Record<string, string> = {
    ListenAddress: `${vm.host}:${vm.port}`,
    HostKey: vm.hostKeyPath,
    PidFile: path.join(vm.dir, "sshd.pid"),
    AuthorizedKeysFile: authorizedKeysPath,
    AuthenticationMethods: "publickey",
    PubkeyAuthentication: "yes",
    PasswordAuthentication: "no",
    KbdInteractiveAuthentication: "no",
    PermitRootLogin: "no",
    AllowUsers: vm.user,
    UsePAM: "no",
    // Keys live under /tmp, whose permissions StrictModes would reject.
    StrictModes: "no",
    UseDNS: "no",
    X11Forwarding: "no",
    AllowAgentForwarding: "no",
    AllowTcpForwarding: "no",
    Subsystem: "sftp internal-sftp",
    LogLevel: "VERBOSE",
    ...vm.sshdOptions,
  };
  return (
    Object.entries(lines)
      .map(([k, v]) => `${k} ${v}`)
      .join("\n") + "\n"
  );
}

async function startSshd(vm: BuildVm, authorizedKeysPath: string, pickPort: boolean): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    if (pickPort) vm.port = await freeLoopbackPort(vm.host);
    await writeFile(vm.sshdConfigPath, sshdConfig(vm, authorizedKeysPath));
    await mustRun([SSHD, "-t", "-f", vm.sshdConfigPath]);
    const logFd = openSync(vm.logPath, "a");
    const child = spawn(SSHD, ["-D", "-e", "-f", vm.sshdConfigPath], { stdio: ["ignore", logFd, logFd] });
    closeSync(logFd);
    // Every session sshd forks stays in its control group (children inherit it).
    if (vm.cpuGroup && child.pid) {
      await writeFile(path.join(vm.cpuGroup, "cgroup.procs"), String(child.pid)).catch((e: unknown) => {
        child.kill("SIGKILL");
        throw e;
      });
    }
    let exited = false;
    child.once("exit", () => {
      exited = true;
      if (vm.process === child) vm.pid = 0;
    });
    child.on("error", () => {});
    const deadline = Date.now() + BANNER_TIMEOUT_MS;
    let banner = "";
    while (!exited && Date.now() < deadline) {
      banner = await readBanner(vm.host, vm.port);
      if (banner.startsWith("SSH-2.0")) break;
      await new Promise((r) => setTimeout(r, 15));
    }
    if (banner.startsWith("SSH-2.0") && !exited) {
      vm.process = child;
      vm.pid = child.pid ?? 0;
      return;
    }
    child.kill("SIGKILL");
    const log = await readFile(vm.logPath, "utf8").catch(() => "");
    if (pickPort && attempt < 5 && /Address already in use|Cannot bind/i.test(log)) continue;
    throw new Error(`sshd for ${vm.name} on ${vm.host}:${vm.port} did not come up:\n${log.slice(-2000)}`);
  }
}

/** All descendants of pid (from /proc), so a VM's sessions die with it like on a real reboot. */
export async function descendants(root: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ppid = Number(rest[1]);
    if (!Number.isFinite(ppid)) continue;
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const p = queue.shift()!;
    for (const c of children.get(p) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/** Stops one VM: its sshd and every session under it (PIDs from /proc, never by name). */
export async function stopVm(vm: BuildVm): Promise<void> {
  const child = vm.process;
  if (!child || child.exitCode !== null || child.signalCode !== null) {
    vm.pid = 0;
    vm.process = undefined;
    return;
  }
  const pid = child.pid!;
  // Freeze the tree first so nothing forks between listing and killing.
  const frozen = new Set<number>([pid]);
  signal(pid, "SIGSTOP");
  for (let round = 0; round < 5; round++) {
    const found = (await descendants(pid)).filter((p) => !frozen.has(p));
    if (found.length === 0) break;
    for (const p of found) {
      frozen.add(p);
      signal(p, "SIGSTOP");
    }
  }
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  for (const p of frozen) signal(p, "SIGKILL");
  await exited;
  vm.pid = 0;
  vm.process = undefined;
}

/** Restarts a VM on the same address:port; `newHostKey` simulates a rebuilt VM (known_hosts goes stale). */
export async function restartVm(vm: BuildVm, opts: { newHostKey?: boolean } = {}): Promise<BuildVm> {
  await stopVm(vm);
  if (opts.newHostKey) await writeHostKey(vm);
  const set = [...started].find((s) => s.vms.includes(vm));
  if (!set) throw new Error(`VM ${vm.name} does not belong to a running harness`);
  await startSshd(vm, set.authorizedKeysPath, false);
  return vm;
}

/** Starts one sshd per VM spec and writes the client-side files. Stop with {@link stopBuildVms}. */
export async function startBuildVms(opts: {
  vms: BuildVmSpec[];
  user?: string;
  /**
   * Run every VM's sshd and sessions in a CPU control group with a small share (the bench): the VMs
   * stand for other machines, but here they share the server's cores, and Linux gives each of their
   * sessions (its own autogroup) as much CPU as the whole server — sixteen rsync receivers left the
   * server waiting on the run queue most of each second. Throws where no cpu controller is mounted.
   */
  lowCpuShare?: boolean;
}): Promise<BuildVms> {
  const user = opts.user ?? DEFAULT_USER;
  if (opts.vms.length === 0) throw new Error("startBuildVms needs at least one VM");
  for (const spec of opts.vms) {
    assertLoopback(spec.address);
    if (!/^[a-z0-9-]+$/.test(spec.name)) throw new Error(`bad VM name ${spec.name}`);
  }
  const { uid, gid } = await ensureTestUser(user);
  await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  installExitHook();

  const stateDir = await mkdtemp(path.join(tmpdir(), "sbx-vms-"));
  const cpuGroup = opts.lowCpuShare ? await makeLowCpuGroup(path.basename(stateDir)) : null;
  // The test user must traverse to its workspace root and sshd (as the user) read authorized_keys.
  await chmod(stateDir, 0o755);
  if (/\s/.test(stateDir)) throw new Error(`state dir ${stateDir} contains whitespace (sshd_config cannot hold it)`);
  const clientDir = path.join(stateDir, "client");
  await mkdir(clientDir, { mode: 0o755 });
  const identityFile = path.join(clientDir, "id_ed25519");
  await mustRun(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sbx-client", "-f", identityFile]);
  const identityPublicKey = (await readFile(`${identityFile}.pub`, "utf8")).trim();
  const authorizedKeysPath = path.join(stateDir, "authorized_keys");
  await writeFile(authorizedKeysPath, identityPublicKey + "\n", { mode: 0o644 });

  const set: BuildVms = {
    vms: [],
    user,
    stateDir,
    identityFile,
    identityPublicKey,
    authorizedKeysPath,
    knownHostsPath: path.join(clientDir, "known_hosts"),
    hashedKnownHostsPath: path.join(clientDir, "known_hosts.hashed"),
    sshConfigPath: path.join(clientDir, "ssh_config"),
    vm(name: string): BuildVm {
      const vm = this.vms.find((v) => v.name === name);
      if (!vm) throw new Error(`no VM named ${name}`);
      return vm;
    },
  };
  started.add(set);
  try {
    for (const spec of opts.vms) {
      const dir = path.join(stateDir, spec.name);
      await mkdir(dir, { mode: 0o755 });
      const workspaceRoot = path.join(dir, "build");
      await mkdir(workspaceRoot, { mode: 0o755 });
      await chown(workspaceRoot, uid, gid);
      // The VM's own "/etc" for its image marker: loopback VMs share the real /etc (see docs/images.md).
      await mkdir(path.join(dir, "etc"), { mode: 0o755 });
      await chown(path.join(dir, "etc"), uid, gid);
      const vm: BuildVm = {
        name: spec.name,
        host: spec.address,
        port: spec.port ?? 0,
        user,
        workspaceRoot,
        hostKeyFingerprint: "",
        hostPublicKeyLine: "",
        pid: 0,
        dir,
        hostKeyPath: path.join(dir, "hostkey"),
        sshdConfigPath: path.join(dir, "sshd_config"),
        logPath: path.join(dir, "sshd.log"),
        sshdOptions: spec.sshdOptions ?? {},
        cpuGroup,
      };
      set.vms.push(vm);
      await writeHostKey(vm);
      await startSshd(vm, authorizedKeysPath, !spec.port);
    }

    await writeFile(set.knownHostsPath, set.vms.map((vm) => `[${vm.host}]:${vm.port} ${vm.hostPublicKeyLine}\n`).join(""));
    await copyFile(set.knownHostsPath, set.hashedKnownHostsPath);
    await mustRun(["ssh-keygen", "-H", "-f", set.hashedKnownHostsPath]);
    await rm(`${set.hashedKnownHostsPath}.old`, { force: true });
    const hostBlocks = set.vms.map((vm) => `Host ${vm.name}\n  HostName ${vm.host}\n  Port ${vm.port}\n`).join("");
    await writeFile(
      set.sshConfigPath,
      hostBlocks +
        `Host *\n  User ${user}\n  IdentityFile ${identityFile}\n  IdentitiesOnly yes\n` +
        `  UserKnownHostsFile ${set.knownHostsPath}\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n` +
        `  BatchMode yes\n  ConnectTimeout 5\n  LogLevel ERROR\n`,
    );
    return set;
  } catch (e) {
    await stopBuildVms(set);
    throw e;
  }
}

/** A process's CPU share by default: cgroup v1's cpu.shares, v2's cpu.weight. */
const DEFAULT_CPU_SHARE = { "cpu.shares": "1024", "cpu.weight": "100" } as const;

/** A CPU control group with a small share (1/16 of {@link DEFAULT_CPU_SHARE}). */
async function makeLowCpuGroup(name: string): Promise<string> {
  const candidates = [
    { root: "/sys/fs/cgroup/cpu", file: "cpu.shares", value: "64" },
    { root: "/sys/fs/cgroup", file: "cpu.weight", value: "6" },
    { root: "/sys/fs/cgroup/unified", file: "cpu.weight", value: "6" },
  ];
  for (const c of candidates) {
    const dir = path.join(c.root, name);
    try {
      await mkdir(dir);
    } catch {
      continue;
    }
    try {
      await writeFile(path.join(dir, c.file), c.value);
      return dir;
    } catch {
      await rmdir(dir).catch(() => undefined);
    }
  }
  throw new Error("lowCpuShare: no cgroup cpu controller is mounted here (looked in /sys/fs/cgroup/cpu and /sys/fs/cgroup)");
}

/**
 * Gives a VM set's control group the default CPU share again before its processes are killed: a killed
 * process still needs the CPU to exit, and the low share can starve it on a busy machine (a CI running
 * other suites beside the bench). One CI left an empty group behind; that was not reproduced here, and
 * this is one way it could happen.
 */
async function restoreCpuShare(group: string): Promise<void> {
  for (const [file, value] of Object.entries(DEFAULT_CPU_SHARE)) {
    if (existsSync(path.join(group, file))) await writeFile(path.join(group, file), value).catch(() => undefined);
  }
}

/**
 * Removes a VM set's control group. rmdir needs it empty, and its sshd's session processes (a client
 * that has not closed its connection yet, a command still exiting) can outlive the sshd by a moment:
 * everything still in the group was started by this harness's sshd, so it is killed, and the rmdir is
 * tried again for up to 10 s. Left behind (and said so) only if it still fails.
 */
async function removeCpuGroup(group: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rmdir(group);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return;
      if (code !== "EBUSY" || attempt >= 100) {
        console.warn(`build VMs: could not remove the CPU control group ${group}: ${(e as Error).message}`);
        return;
      }
    }
    const procs = await readFile(path.join(group, "cgroup.procs"), "utf8").catch(() => "");
    const pids = procs.split("\n").map(Number);
    for (const pid of pids.filter((n) => Number.isInteger(n) && n > 0)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Stops the given harness (or every one this process started): kills each sshd by PID and removes its state dir. */
export async function stopBuildVms(set?: BuildVms): Promise<void> {
  const sets = set ? [set] : [...started];
  for (const s of sets) {
    const group = s.vms.find((vm) => vm.cpuGroup)?.cpuGroup;
    if (group) await restoreCpuShare(group);
    for (const vm of s.vms) await stopVm(vm);
    started.delete(s);
    if (group) await removeCpuGroup(group);
    await rm(s.stateDir, { recursive: true, force: true });
  }
}

/** An SshConfig for a VM, trusting it by pinned fingerprint (default), known_hosts or the hashed known_hosts. */
export function vmSshConfig(
  set: BuildVms,
  vm: BuildVm,
  trust: "pinned" | "knownHosts" | "hashedKnownHosts" = "pinned",
  extra: Partial<SshConfig> = {},
): SshConfig {
  return {
    host: vm.host,
    port: vm.port,
    user: vm.user,
    identity: { privateKeyPath: set.identityFile },
    trust:
      trust === "pinned"
        ? { pinnedFingerprint: vm.hostKeyFingerprint }
        : { knownHostsPath: trust === "knownHosts" ? set.knownHostsPath : set.hashedKnownHostsPath },
    ...extra,
  };
}

/** Where a test VM keeps its image marker (its own "/etc", writable by the build user). */
export function markerPathOf(vm: BuildVm): string {
  return path.join(vm.dir, "etc", "sandboxer-image.json");
}

/**
 * A hosts.yaml entry for a VM, as plain data (no schema: usable where the app's modules cannot be
 * loaded, e.g. Playwright's global setup). `hostEntryFor` in vm-harness parses it with the real schema.
 */
export function hostFieldsFor(vm: BuildVm, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: `host-${vm.name}`,
    title: `Build VM ${vm.name}`,
    address: vm.host,
    port: vm.port,
    user: vm.user,
    hostKey: vm.hostKeyFingerprint,
    workspaceRoot: vm.workspaceRoot,
    markerPath: markerPathOf(vm),
    labels: ["test-vm"],
    capacity: 60,
    ...extra,
  };
}

/** Adds a public key line to the VMs' authorized_keys (e.g. a passphrase-protected or agent key). */
export async function authorizeKey(set: BuildVms, publicKeyLine: string): Promise<void> {
  const current = await readFile(set.authorizedKeysPath, "utf8");
  await writeFile(set.authorizedKeysPath, current + publicKeyLine.trim() + "\n");
}

/** Creates a symlink `linkPath -> target` owned by `owner` (as a user on the VM would have made it). */
export async function plantSymlink(target: string, linkPath: string, owner: string = DEFAULT_USER): Promise<void> {
  await symlink(target, linkPath);
  const uid = Number((await mustRun(["id", "-u", owner])).trim());
  const gid = Number((await mustRun(["id", "-g", owner])).trim());
  await lchown(linkPath, uid, gid);
}

/** Connections the VM's sshd is serving right now (its direct children: one per connection, pre-auth included). */
export async function sshdConnectionCount(vm: BuildVm): Promise<number> {
  if (!vm.pid) return 0;
  let n = 0;
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppid === vm.pid) n++;
  }
  return n;
}

/** Whether any process's command line (from /proc) contains `needle`; for "was the remote process killed?". */
export async function processRunning(needle: string): Promise<boolean> {
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (cmdline.replace(/\0/g, " ").includes(needle)) return true;
  }
  return false;
}
