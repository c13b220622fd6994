// The OpenSSH client options both our ssh launches share (rsync's transport on the server, the CLI's
// ssh and rsync on a person's machine): trust exactly one pinned key from a throwaway known_hosts file.
import "server-only";

import fs from "node:fs";
import os from "node:os";

/**
 * `p` as a value for ssh's `-o Key=value`, or null when it cannot be one: ssh splits such values on
 * whitespace and expands `%` and `~`; double quotes protect spaces, the rest must not occur.
 */
export function sshOptionPath(p: string): string | null {
  if (!p.startsWith("/") || /["\\%\0\n\r\t]/.test(p)) return null;
  return /\s|'/.test(p) ? `"${p}"` : p;
}

/** What a path must look like to pass sshOptionPath, for error messages. */
export const SSH_OPTION_PATH_RULE = 'an absolute path without ", \\, % or control characters';

/** HostKeyAlgorithms for a pinned key of this type (an RSA key is offered with SHA-2 signatures first). */
export function hostKeyAlgorithms(keyType: string): string {
  return keyType === "ssh-rsa" ? "rsa-sha2-512,rsa-sha2-256,ssh-rsa" : keyType;
}

/**
 * Options that make ssh trust only the key in `knownHostsOption` (a value from sshOptionPath): no
 * global known_hosts, no prompt, no learning of new keys, only the pinned key's algorithm.
 */
export function pinnedKeyOptions(knownHostsOption: string, keyType: string): string[] {
  return [
    `UserKnownHostsFile=${knownHostsOption}`,
    "GlobalKnownHostsFile=/dev/null",
    "StrictHostKeyChecking=yes",
    "CheckHostIP=no",
    "UpdateHostKeys=no",
    `HostKeyAlgorithms=${hostKeyAlgorithms(keyType)}`,
  ];
}

/** util-linux's setpriv (on every Debian system); without it a child runs without a parent-death signal. */
const SETPRIV = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => fs.existsSync(p));

/**
 * The file and arguments to spawn argv so that it gets `signal` when this process dies (setpriv
 * --pdeathsig): a crashed worker leaves no ssh or rsync behind. Plain argv where setpriv is missing.
 */
export function withParentDeathSignal(argv: readonly string[], signal: "KILL" | "TERM"): [string, string[]] {
  return SETPRIV ? [SETPRIV, ["--pdeathsig", signal, "--", ...argv]] : [argv[0]!, argv.slice(1)];
}

/** How much lower than the server the transfers run (rsync, ssh): requests stay responsive under load. */
export const TRANSFER_NICENESS = 10;

/**
 * Lowers a child's CPU priority by TRANSFER_NICENESS (its own children, e.g. rsync's ssh, inherit it):
 * the web requests and the worker's bookkeeping in this process go first when the machine is busy.
 *
 * A child spawned `detached` starts a session of its own, and Linux (sched_autogroup, on by default)
 * gives each session an equal share of the CPU whatever its processes' niceness: sixteen rsyncs were
 * sixteen sessions, each with as much CPU as the whole server, which then waited on the run queue for
 * 0.8–1.7 s of every second and answered a create's POST in seconds (issue 20). So such a child's
 * session gets the niceness too (/proc/<pid>/autogroup) — never this process's own session.
 * Best effort: a failure (the child already gone, no autogroup support) changes nothing else.
 */
export function lowerPriority(pid: number | undefined): void {
  if (!pid) return;
  try {
    os.setPriority(pid, Math.min(19, os.getPriority(pid) + TRANSFER_NICENESS));
  } catch {
    /* exited already */
  }
  lowerSessionPriority(pid);
}

const AUTOGROUP = /^\/autogroup-(\d+) nice (-?\d+)/;

function autogroupOf(pid: number | "self"): { id: string; nice: number } | null {
  try {
    const m = AUTOGROUP.exec(fs.readFileSync(/*turbopackIgnore: true*/ `/proc/${pid}/autogroup`, "utf8"));
    return m ? { id: m[1]!, nice: Number(m[2]) } : null;
  } catch {
    return null; // no autogroup support, or the child is gone
  }
}

/** This process's autogroup, read once: the server never starts a session of its own (null: no support). */
let ownAutogroup: { id: string; nice: number } | null | undefined;

function lowerSessionPriority(pid: number): void {
  if (ownAutogroup === undefined) ownAutogroup = autogroupOf("self");
  const own = ownAutogroup;
  if (!own) return; // no autogroups here: niceness alone applies
  const child = autogroupOf(pid);
  if (!child || child.id === own.id) return;
  try {
    fs.writeFileSync(
      /*turbopackIgnore: true*/ `/proc/${pid}/autogroup`,
      String(Math.min(19, Math.max(child.nice, own.nice + TRANSFER_NICENESS))),
    );
  } catch {
    /* exited already, or not allowed */
  }
}
