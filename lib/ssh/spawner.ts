// Starting transfer processes without forking the server. Node's spawn forks the calling process, and
// after a fork every page the parent writes faults once (copy-on-write bookkeeping) — on the machines
// sand-boxer runs on here (Firecracker VMs) such a fault costs ~19 µs, so one
// rsync spawned from a 250–300 MB server cost it tens of milliseconds of CPU afterwards, as its heap
// and the garbage collector touched their pages again (docs/performance.md, "Server CPU per
// create"). A create spawns one rsync; a burst spawns fifty.
//
// So a small helper (./spawner-child.mjs, forked once, a few MB of heap) spawns them and relays their
// output and exit: `spawnTransfer` returns a ChildProcess-like object (pid once started, stdout and
// stderr streams, `exit`/`close` with code and signal, `error`). If the helper cannot be started (its
// file missing, fork failing) or has died, the process is spawned here directly, as before.
import "server-only";

import { fork, spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import fs from "node:fs";
import path from "node:path";
import { PassThrough, type Readable } from "node:stream";

import { lowerPriority } from "./ssh-options";

export interface TransferOptions {
  env: Record<string, string | undefined>;
  /** A session and process group of its own (signal the group with killGroup). */
  detached?: boolean;
  /** Below the server's priority, session included (ssh-options.ts lowerPriority, applied here once the pid is known). */
  lowPriority?: boolean;
  /** stdout written to this file (created, mode 0600) instead of a pipe; `stdout` is then null. */
  stdoutFile?: string;
}

export interface TransferProcess extends EventEmitter {
  /** Set once started (the `spawn` event); undefined when it could not start. */
  readonly pid: number | undefined;
  readonly stdout: Readable | null;
  readonly stderr: Readable;
  /** Signals the process (its group too when `group` and it was started detached). False if it is gone. */
  kill(signal?: NodeJS.Signals, opts?: { group?: boolean }): boolean;
}

type HelperEvent =
  | { ev: "spawn"; id: number; pid: number }
  | { ev: "error"; id: number; message: string; code?: string }
  | { ev: "out"; id: number; fd: 1 | 2; data: Uint8Array }
  | { ev: "close"; id: number; code: number | null; signal: NodeJS.Signals | null };

/** Where the helper's file is: the repository root is the working directory of `npm start` and the worker. */
export const SPAWNER_CHILD = path.join(/*turbopackIgnore: true*/ process.cwd(), "lib", "ssh", "spawner-child.mjs");

class RelayedProcess extends EventEmitter implements TransferProcess {
  pid: number | undefined;
  readonly stdout: PassThrough | null;
  readonly stderr = new PassThrough();
  private closed = false;
  /** Signals asked for before the pid was known. */
  private queued: { signal: NodeJS.Signals; group: boolean }[] = [];

  constructor(
    private readonly helper: Helper,
    readonly id: number,
    withStdout: boolean,
    private readonly lowPriority: boolean,
  ) {
    super();
    this.stdout = withStdout ? new PassThrough() : null;
  }

  kill(signal: NodeJS.Signals = "SIGTERM", opts: { group?: boolean } = {}): boolean {
    if (this.closed) return false;
    if (this.pid === undefined) {
      this.queued.push({ signal, group: opts.group ?? false });
      return true;
    }
    return this.helper.kill(this.id, signal, opts.group ?? false);
  }

  onEvent(e: HelperEvent): void {
    switch (e.ev) {
      case "spawn":
        this.pid = e.pid;
        // The helper shares the server's session, so the server's own autogroup is the one to compare.
        if (this.lowPriority) lowerPriority(e.pid);
        this.emit("spawn");
        for (const q of this.queued.splice(0)) this.helper.kill(this.id, q.signal, q.group);
        break;
      case "out":
        (e.fd === 1 ? this.stdout : this.stderr)?.write(Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength));
        break;
      case "error":
        this.emit("error", Object.assign(new Error(e.message), { code: e.code }));
        break;
      case "close":
        this.finish(e.code, e.signal);
        break;
    }
  }

  /** Ends the streams, then `exit` and `close` once what they hold has been read. */
  finish(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.closed) return;
    this.closed = true;
    this.stdout?.end();
    this.stderr.end();
    this.emit("exit", code, signal);
    setImmediate(() => this.emit("close", code, signal));
  }
}

class Helper {
  private readonly child: ChildProcess;
  private readonly running = new Map<number, RelayedProcess>();
  private nextId = 1;
  dead = false;

  constructor(file: string) {
    this.child = fork(/*turbopackIgnore: true*/ file, [], {
      // Nothing of the server's: no loaders, no preloads, a small heap. The spawned processes get the
      // environment each request carries.
      execArgv: ["--max-old-space-size=32"],
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } as Record<string, string> as NodeJS.ProcessEnv,
      stdio: ["ignore", "ignore", "inherit", "ipc"],
      serialization: "advanced",
    });
    this.child.on("message", (m: HelperEvent) => this.running.get(m.id)?.onEvent(m));
    const gone = () => {
      if (this.dead) return;
      this.dead = true;
      // The helper died (killed, crashed): what it ran is lost to us; report each as killed.
      for (const p of this.running.values()) {
        p.emit("error", new Error("the spawner helper process exited"));
        p.finish(null, "SIGKILL");
      }
      this.running.clear();
    };
    this.child.on("exit", gone);
    this.child.on("error", gone);
    this.idle();
  }

  spawn(file: string, args: readonly string[], opts: TransferOptions): RelayedProcess {
    // A closed channel is reported as an error event, not thrown: look first (the caller spawns directly).
    if (!this.child.connected) throw new Error("the spawner helper's channel is closed");
    const id = this.nextId++;
    const p = new RelayedProcess(this, id, !opts.stdoutFile, opts.lowPriority ?? false);
    this.running.set(id, p);
    p.once("close", () => {
      this.running.delete(id);
      if (this.running.size === 0) this.idle();
    });
    this.busy();
    const request = {
      op: "spawn",
      id,
      file,
      args: [...args],
      env: opts.env,
      detached: opts.detached ?? false,
      stdoutFile: opts.stdoutFile,
    };
    this.child.send(request);
    return p;
  }

  kill(id: number, signal: NodeJS.Signals, group: boolean): boolean {
    if (this.dead || !this.running.has(id)) return false;
    this.child.send({ op: "kill", id, signal, group });
    return true;
  }

  /** The helper keeps this process alive only while something it started runs. */
  private busy(): void {
    this.child.ref();
    this.child.channel?.ref();
  }

  private idle(): void {
    this.child.unref();
    this.child.channel?.unref();
  }

  stop(): void {
    this.dead = true;
    this.child.kill("SIGTERM");
  }
}

let helper: Helper | null = null;
let helperUnavailable = false;

function currentHelper(): Helper | null {
  if (process.env.SANDBOXER_SPAWNER === "off" || helperUnavailable) return null;
  if (helper && !helper.dead) return helper;
  if (!fs.existsSync(/*turbopackIgnore: true*/ SPAWNER_CHILD)) {
    helperUnavailable = true;
    return null;
  }
  try {
    helper = new Helper(SPAWNER_CHILD);
  } catch {
    helperUnavailable = true;
    return null;
  }
  return helper;
}

/**
 * Starts a transfer process (rsync) through the spawner helper, or directly when the
 * helper is unavailable (SANDBOXER_SPAWNER=off forces that).
 */
export function spawnTransfer(file: string, args: readonly string[], opts: TransferOptions): TransferProcess {
  const h = currentHelper();
  if (h) {
    try {
      return h.spawn(file, args, opts);
    } catch {
      // The helper went away between the look and the send (its channel closed): spawn here.
      h.dead = true;
    }
  }
  const fd = opts.stdoutFile ? fs.openSync(/*turbopackIgnore: true*/ opts.stdoutFile, "w", 0o600) : undefined;
  let child: ChildProcess;
  try {
    child = spawn(file, args, {
      env: opts.env as NodeJS.ProcessEnv,
      detached: opts.detached ?? false,
      stdio: ["ignore", fd ?? "pipe", "pipe"],
    }) as ChildProcess;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  if (opts.lowPriority) lowerPriority(child.pid);
  return directProcess(child);
}

function directProcess(child: ChildProcess): TransferProcess {
  const p = child as ChildProcess & TransferProcess;
  const kill = child.kill.bind(child);
  return Object.assign(p, {
    kill(signal: NodeJS.Signals = "SIGTERM", opts: { group?: boolean } = {}): boolean {
      if (opts.group && child.pid !== undefined) {
        try {
          process.kill(-child.pid, signal);
          return true;
        } catch {
          /* not a group leader, or gone: the process itself */
        }
      }
      return kill(signal);
    },
  });
}

/** For tests: the helper's pid (null when none runs), and stopping it. */
export const spawnerForTests = {
  pid: (): number | null => (helper && !helper.dead ? ((helper as unknown as { child: ChildProcess }).child.pid ?? null) : null),
  stop: (): void => {
    helper?.stop();
    helper = null;
  },
};
