// The spawner: a small helper process that starts the server's transfer processes (rsync, ssh
// masters) on its behalf. See ./spawner.ts for why. Plain JavaScript, started with `child_process.fork`
// (no TypeScript loader, no Next.js bundle): it only spawns, relays output and exit codes, and signals.
//
// Protocol (IPC, "advanced" serialization so output travels as bytes):
//   parent → here: { op: "spawn", id, file, args, env, cwd, detached, lowPriority, stdout: "pipe" | "ignore", stdoutFile? }
//                  { op: "kill", id, signal, group }
//   here → parent: { ev: "spawn", id, pid } | { ev: "error", id, message, code }
//                  | { ev: "out", id, fd: 1 | 2, data } | { ev: "close", id, code, signal }
// Output is read in batches (BATCH_MS) and always sent before that child's close. When the parent goes away (its IPC channel
// closes: it exited or was killed), every child's process group gets SIGTERM, then this exits; the
// children also carry a parent-death signal of their own (setpriv --pdeathsig, see ssh-options.ts).
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";

/**
 * How long reading pauses after a chunk. rsync writes its progress once per file (2,000 writes for a
 * 2,000-file repository); read as they come, that is thousands of wake-ups, each a system call or more,
 * and system calls are expensive on virtual machines (~100 ms of CPU per create on the ones here).
 * Paused, the pipe (64 KiB) collects them: a few reads per second per stream. rsync would have to
 * print over 600 KiB/s (some 9,000 files/s) to fill it and wait.
 */
const BATCH_MS = 100;
/** As TRANSFER_NICENESS in ./ssh-options.ts. */
const NICENESS = 10;

const children = new Map();

function send(message) {
  if (process.connected) process.send(message);
}

const AUTOGROUP = /^\/autogroup-(\d+) nice (-?\d+)/;
function autogroupOf(pid) {
  try {
    const m = AUTOGROUP.exec(fs.readFileSync(`/proc/${pid}/autogroup`, "utf8"));
    return m ? { id: m[1], nice: Number(m[2]) } : null;
  } catch {
    return null;
  }
}
// This helper is in the server's session (forked, not detached): the same autogroup as the server.
const ownAutogroup = autogroupOf("self");

/** As lowerPriority in ./ssh-options.ts: the niceness, and the child's own session's when it has one. */
function lowerPriority(pid) {
  try {
    os.setPriority(pid, Math.min(19, os.getPriority(pid) + NICENESS));
  } catch {
    /* exited already */
  }
  if (!ownAutogroup) return;
  const child = autogroupOf(pid);
  if (!child || child.id === ownAutogroup.id) return;
  try {
    fs.writeFileSync(`/proc/${pid}/autogroup`, String(Math.min(19, Math.max(child.nice, ownAutogroup.nice + NICENESS))));
  } catch {
    /* exited already, or not allowed */
  }
}

function start(req) {
  const entry = { child: null, pending: { 1: [], 2: [] }, timer: null, pausing: false, exited: false };
  const streams = () => [entry.child?.stdout, entry.child?.stderr].filter(Boolean);
  const flush = () => {
    for (const fd of [1, 2]) {
      const parts = entry.pending[fd];
      if (parts.length === 0) continue;
      entry.pending[fd] = [];
      send({ ev: "out", id: req.id, fd, data: parts.length === 1 ? parts[0] : Buffer.concat(parts) });
    }
  };
  // Read in batches: after a chunk, take what else is there in this turn of the event loop (a paused
  // stream hands out what it had buffered one chunk per resume otherwise), then stop reading for
  // BATCH_MS and let the pipe collect the rest.
  const tick = () => {
    entry.timer = null;
    flush();
    for (const s of streams()) s.resume();
  };
  const onData = (chunk, fd) => {
    entry.pending[fd].push(chunk);
    if (entry.exited || entry.timer || entry.pausing) return;
    entry.pausing = true;
    setImmediate(() => {
      entry.pausing = false;
      if (entry.exited) return; // draining: read on until the end
      for (const s of streams()) s.pause();
      entry.timer = setTimeout(tick, BATCH_MS);
    });
  };
  let child;
  let fd;
  try {
    if (req.stdoutFile) fd = fs.openSync(req.stdoutFile, "w", 0o600);
    child = spawn(req.file, req.args, {
      env: req.env,
      cwd: req.cwd,
      detached: req.detached,
      stdio: ["ignore", fd ?? (req.stdout === "ignore" ? "ignore" : "pipe"), "pipe"],
    });
  } catch (e) {
    send({ ev: "error", id: req.id, message: e.message, code: e.code });
    send({ ev: "close", id: req.id, code: null, signal: null });
    return;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  entry.child = child;
  children.set(req.id, entry);
  child.on("spawn", () => {
    if (req.lowPriority) lowerPriority(child.pid);
    send({ ev: "spawn", id: req.id, pid: child.pid });
  });
  child.stdout?.on("data", (chunk) => onData(chunk, 1));
  child.stderr.on("data", (chunk) => onData(chunk, 2));
  child.on("error", (e) => send({ ev: "error", id: req.id, message: e.message, code: e.code }));
  // The process is gone: read what the pipes still hold at once, so `close` does not wait for a batch.
  child.on("exit", () => {
    entry.exited = true;
    clearTimeout(entry.timer);
    entry.timer = null;
    for (const s of streams()) s.resume();
  });
  child.on("close", (code, signal) => {
    clearTimeout(entry.timer);
    flush();
    children.delete(req.id);
    send({ ev: "close", id: req.id, code, signal });
  });
}

function kill(req) {
  const entry = children.get(req.id);
  const pid = entry?.child?.pid;
  if (pid === undefined) return;
  try {
    if (req.group) process.kill(-pid, req.signal);
    else entry.child.kill(req.signal);
  } catch {
    /* gone */
  }
}

process.on("message", (req) => {
  if (req?.op === "spawn") start(req);
  else if (req?.op === "kill") kill(req);
});

process.on("disconnect", () => {
  for (const { child } of children.values()) {
    if (child?.pid === undefined) continue;
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      try {
        child.kill("SIGTERM");
      } catch {
        /* gone */
      }
    }
  }
  process.exit(0);
});
