// OpenSSH control masters for rsync. Every rsync runs its transport through the system `ssh`, and a
// fresh OpenSSH handshake costs ~0.2 s — as much as the whole manager-side work of a create. So the
// first rsync to a host starts a master connection (verified against the pinned key, like any of
// ours), and later rsyncs to the same host multiplex over it: no handshake, no MaxStartups pressure.
//
// One master per (host, port, user, identity, pinned key) and per pool. At most MAX_SESSIONS rsyncs
// share it (OpenSSH's default MaxSessions is 10). The master runs in the foreground as our child with a
// parent-death signal, is closed after IDLE_MS without sessions or when the pool closes, and if it dies
// the mux clients fall back to a direct connection (their known_hosts file lives beside the socket).
import "server-only";

import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import path from "node:path";

import type { SshPool } from "./pool";
import { lowerPriority, withParentDeathSignal } from "./ssh-options";
import { ownedTempPrefix } from "./temp-dirs";

const MAX_SESSIONS = 8;
const IDLE_MS = 30_000;

interface Master {
  dir: string;
  socket: string;
  knownHostsPath: string;
  child: ChildProcess | null;
  ready: Promise<boolean>;
  sessions: number;
  waiters: (() => void)[];
  idleTimer: NodeJS.Timeout | undefined;
  dead: boolean;
}

const registries = new WeakMap<SshPool, Map<string, Master>>();

function registry(pool: SshPool): Map<string, Master> {
  let r = registries.get(pool);
  if (!r) {
    const created = new Map<string, Master>();
    registries.set(pool, created);
    pool.onClose(() => {
      for (const m of created.values()) stop(m);
      created.clear();
    });
    r = created;
  }
  return r;
}

function stop(m: Master): void {
  if (m.dead) return;
  m.dead = true;
  clearTimeout(m.idleTimer);
  m.child?.kill("SIGTERM");
  for (const w of m.waiters.splice(0)) w();
  void rm(m.dir, { recursive: true, force: true });
}

export interface MasterSession {
  /** The control socket for `-o ControlPath=`. */
  socket: string;
  /** A known_hosts file holding the verified key (used if the client must fall back to a direct connection). */
  knownHostsPath: string;
  release(): void;
}

export interface MasterSpec {
  key: string;
  knownHostsLine: string;
  /** ssh's argv up to (not including) the destination, for a given known_hosts file; the caller's options. */
  sshArgv(knownHostsPath: string): string[];
  destination: string;
  env: NodeJS.ProcessEnv;
  connectTimeoutMs: number;
  /** Held while the master's handshake runs (the pool's per-host handshake bound). */
  acquireHandshakeSlot(): Promise<() => void>;
}

/**
 * A session on the host's master, starting one if needed. Resolves null when no master could be made
 * (the caller then connects directly, as without multiplexing).
 */
export async function acquireMasterSession(pool: SshPool, spec: MasterSpec, signal: AbortSignal): Promise<MasterSession | null> {
  if (pool.isClosed) return null;
  const reg = registry(pool);
  let m = reg.get(spec.key);
  if (!m || m.dead) {
    m = startMaster(spec);
    const started = m;
    reg.set(spec.key, started);
    started.ready.then((ok) => {
      if (!ok && reg.get(spec.key) === started) reg.delete(spec.key);
    });
  }
  const master = m;
  if (!(await master.ready) || master.dead) return null;
  while (master.sessions >= MAX_SESSIONS && !master.dead) {
    if (signal.aborted) return null;
    await new Promise<void>((resolve) => {
      master.waiters.push(resolve);
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
  }
  if (master.dead || signal.aborted) return null;
  master.sessions++;
  clearTimeout(master.idleTimer);
  let released = false;
  return {
    socket: master.socket,
    knownHostsPath: master.knownHostsPath,
    release() {
      if (released) return;
      released = true;
      master.sessions--;
      master.waiters.shift()?.();
      if (master.sessions === 0 && !master.dead) {
        master.idleTimer = setTimeout(() => {
          if (master.sessions === 0) {
            stop(master);
            if (reg.get(spec.key) === master) reg.delete(spec.key);
          }
        }, IDLE_MS);
        master.idleTimer.unref();
      }
    },
  };
}

function startMaster(spec: MasterSpec): Master {
  const m: Master = {
    dir: "",
    socket: "",
    knownHostsPath: "",
    child: null,
    ready: Promise.resolve(false),
    sessions: 0,
    waiters: [],
    idleTimer: undefined,
    dead: false,
  };
  m.ready = (async () => {
    // Short path: a Unix socket path must stay under ~100 bytes.
    m.dir = await mkdtemp(ownedTempPrefix("mux")); // named after this process: swept if it dies (temp-dirs.ts)
    // Run-time temp paths, nothing to bundle: tell the build's file tracer so.
    m.socket = path.join(/*turbopackIgnore: true*/ m.dir, "s");
    m.knownHostsPath = path.join(m.dir, "known_hosts");
    await writeFile(m.knownHostsPath, `${spec.knownHostsLine}\n`, { mode: 0o600 });
    const argv = [
      ...spec.sshArgv(m.knownHostsPath),
      "-o",
      "ControlMaster=yes",
      "-o",
      `ControlPath=${m.socket}`,
      "-o",
      "ControlPersist=no",
      "-N",
      "-T",
      spec.destination,
    ];
    const release = await spec.acquireHandshakeSlot();
    try {
      const [file, args] = withParentDeathSignal(argv, "TERM");
      const child = spawn(file, args, { env: spec.env, stdio: ["ignore", "ignore", "pipe"] });
      lowerPriority(child.pid);
      m.child = child;
      child.stderr!.resume();
      const exited = new Promise<false>((resolve) => child.once("exit", () => resolve(false)));
      child.once("exit", () => stop(m));
      // The socket appears once the master has authenticated.
      const deadline = Date.now() + spec.connectTimeoutMs;
      for (;;) {
        if (fs.existsSync(/*turbopackIgnore: true*/ m.socket)) return true;
        if (m.dead || Date.now() > deadline) break;
        const gone = await Promise.race([exited, new Promise<true>((r) => setTimeout(() => r(true), 15))]);
        if (!gone) break;
      }
      stop(m);
      return false;
    } finally {
      release();
    }
  })().catch(() => {
    stop(m);
    return false;
  });
  return m;
}
