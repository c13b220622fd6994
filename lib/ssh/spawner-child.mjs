// The spawner: a small helper process that starts the server's transfer processes (rsync) on its
// behalf. See ./spawner.ts for why. Plain JavaScript, started with `child_process.fork`
// (no TypeScript loader, no Next.js bundle): it only spawns, relays output and exit codes, and signals.
//
// Protocol (IPC, "advanced" serialization so output travels as bytes):
//   parent → here: { op: "spawn", id, file, args, env, detached, stdoutFile? }
//                  { op: "kill", id, signal, group }
//   here → parent: { ev: "spawn", id, pid } | { ev: "error", id, message, code }
//                  | { ev: "out", id, fd: 1 | 2, data } | { ev: "close", id, code, signal }
// Output is sent as it comes (rsync's stdout, one write per file, goes to a file instead: see
// rsync.ts), always before that child's close; the parent lowers the priority once it has the pid.
// When the parent goes away (its IPC channel closes: it exited or was killed), every child's process
// group gets SIGTERM, then this exits; the children also carry a parent-death signal of their own
// (setpriv --pdeathsig, see ssh-options.ts).
import { spawn } from "node:child_process";
import fs from "node:fs";

const children = new Map();

function send(message) {
  if (process.connected) process.send(message);
}

function start(req) {
  let child;
  let fd;
  try {
    if (req.stdoutFile) fd = fs.openSync(req.stdoutFile, "w", 0o600);
    child = spawn(req.file, req.args, { env: req.env, detached: req.detached, stdio: ["ignore", fd ?? "pipe", "pipe"] });
  } catch (e) {
    send({ ev: "error", id: req.id, message: e.message, code: e.code });
    send({ ev: "close", id: req.id, code: null, signal: null });
    return;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  children.set(req.id, child);
  child.on("spawn", () => send({ ev: "spawn", id: req.id, pid: child.pid }));
  child.stdout?.on("data", (data) => send({ ev: "out", id: req.id, fd: 1, data }));
  child.stderr.on("data", (data) => send({ ev: "out", id: req.id, fd: 2, data }));
  child.on("error", (e) => send({ ev: "error", id: req.id, message: e.message, code: e.code }));
  child.on("close", (code, signal) => {
    children.delete(req.id);
    send({ ev: "close", id: req.id, code, signal });
  });
}

function kill(req) {
  const child = children.get(req.id);
  if (child?.pid === undefined) return;
  try {
    if (req.group) process.kill(-child.pid, req.signal);
    else child.kill(req.signal);
  } catch {
    /* gone */
  }
}

process.on("message", (req) => {
  if (req?.op === "spawn") start(req);
  else if (req?.op === "kill") kill(req);
});

process.on("disconnect", () => {
  for (const child of children.values()) {
    if (child.pid === undefined) continue;
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
