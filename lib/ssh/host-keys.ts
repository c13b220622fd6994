// Host-key trust: fingerprints in OpenSSH's format, an OpenSSH-compatible known_hosts reader
// (plain, wildcard, `[host]:port`, hashed `|1|` entries, `@revoked`), and the one decision
// "accept this offered key for host:port or refuse it, and why". Unknown keys are never accepted:
// there is no trust-on-first-use anywhere in the product.
import "server-only";

import { createHash, createHmac } from "node:crypto";
import { readFileSync } from "node:fs";

import { ValidationError } from "@/lib/errors";

import { SshError, hostPort } from "./errors";

export type KnownHostsMarker = "revoked" | "cert-authority";

export type KnownHostsHosts = { kind: "hashed"; salt: Buffer; hash: Buffer } | { kind: "patterns"; patterns: string[] };

export interface KnownHostsEntry {
  /** 1-based line number in the source text. */
  line: number;
  marker: KnownHostsMarker | null;
  hosts: KnownHostsHosts;
  keyType: string;
  keyBlob: Buffer;
}

export interface ParsedKnownHosts {
  entries: KnownHostsEntry[];
  /** Line numbers that were not comments or blank and could not be parsed; OpenSSH skips them too. */
  invalidLines: number[];
}

const FINGERPRINT_PATTERN = /^SHA256:([A-Za-z0-9+/]{43})=?$/;

/** `SHA256:<unpadded base64>` of a raw SSH public key blob: what `ssh-keygen -lf key.pub -E sha256` prints. */
export function fingerprintOfKey(keyBlob: Buffer): string {
  return "SHA256:" + createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "");
}

/** The canonical form of a pinned fingerprint (padding dropped), or a ValidationError naming `pinnedFingerprint`. */
export function normalizeFingerprint(fingerprint: string): string {
  const m = FINGERPRINT_PATTERN.exec(typeof fingerprint === "string" ? fingerprint.trim() : "");
  if (!m) {
    throw new ValidationError(`not a SHA256 host key fingerprint: ${JSON.stringify(fingerprint)}`, {
      pinnedFingerprint: ["must look like SHA256:<43 base64 characters> (ssh-keygen -lf <key>.pub -E sha256)"],
    });
  }
  return `SHA256:${m[1]}`;
}

/** The key type (`ssh-ed25519`, `ssh-rsa`, …) embedded at the start of a public key blob. */
export function keyTypeOfBlob(keyBlob: Buffer): string {
  if (keyBlob.length < 4) throw new Error("public key blob is too short");
  const len = keyBlob.readUInt32BE(0);
  if (len === 0 || len > 64 || 4 + len > keyBlob.length) throw new Error("public key blob has no valid type");
  return keyBlob.subarray(4, 4 + len).toString("latin1");
}

/** The name OpenSSH looks up in known_hosts: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

/** The `<type> <base64>` form of a public key, as in a .pub file or after a known_hosts name. */
export function publicKeyLine(keyBlob: Buffer): string {
  return `${keyTypeOfBlob(keyBlob)} ${keyBlob.toString("base64")}`;
}

/** One known_hosts line for exactly this host:port and key, e.g. for rsync's temporary known_hosts. */
export function knownHostsLine(host: string, port: number, keyBlob: Buffer): string {
  if (!/^[A-Za-z0-9._:-]+$/.test(host)) {
    throw new ValidationError(`host ${JSON.stringify(host)} cannot be written to known_hosts`, {
      host: ["must be a host name or IP address"],
    });
  }
  return `${knownHostsName(host, port)} ${publicKeyLine(keyBlob)}`;
}

function parseHostsField(field: string): KnownHostsHosts | null {
  if (field.startsWith("|1|")) {
    const [salt64, hash64, ...rest] = field.slice(3).split("|");
    if (salt64 === undefined || hash64 === undefined || rest.length > 0) return null;
    const salt = Buffer.from(salt64, "base64");
    const hash = Buffer.from(hash64, "base64");
    if (salt.length !== 20 || hash.length !== 20) return null;
    return { kind: "hashed", salt, hash };
  }
  const patterns = field.split(",").filter((p) => p.length > 0);
  return patterns.length > 0 ? { kind: "patterns", patterns } : null;
}

/** Parses OpenSSH known_hosts text. Unparseable lines are reported, not fatal (OpenSSH ignores them). */
export function parseKnownHosts(text: string): ParsedKnownHosts {
  const entries: KnownHostsEntry[] = [];
  const invalidLines: number[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] ?? "").replace(/\r$/, "").trim();
    if (raw === "" || raw.startsWith("#")) continue;
    const fields = raw.split(/[ \t]+/);
    let marker: KnownHostsMarker | null = null;
    if (fields[0]?.startsWith("@")) {
      const m = fields.shift();
      if (m === "@revoked") marker = "revoked";
      else if (m === "@cert-authority") marker = "cert-authority";
      else {
        invalidLines.push(i + 1);
        continue;
      }
    }
    const [hostsField, keyType, key64] = fields;
    const hosts = hostsField === undefined ? null : parseHostsField(hostsField);
    if (!hosts || keyType === undefined || key64 === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(key64)) {
      invalidLines.push(i + 1);
      continue;
    }
    const keyBlob = Buffer.from(key64, "base64");
    let embeddedType: string;
    try {
      embeddedType = keyTypeOfBlob(keyBlob);
    } catch {
      invalidLines.push(i + 1);
      continue;
    }
    // OpenSSH refuses a line whose declared type disagrees with the blob; so do we.
    if (embeddedType !== keyType && marker !== "cert-authority") {
      invalidLines.push(i + 1);
      continue;
    }
    entries.push({ line: i + 1, marker, hosts, keyType, keyBlob });
  }
  return { entries, invalidLines };
}

function globToRegExp(pattern: string): RegExp {
  let re = "^";
  for (const ch of pattern) {
    if (ch === "*") re += ".*";
    else if (ch === "?") re += ".";
    else re += ch.replace(/[\\^$.|+()[\]{}]/g, "\\$&");
  }
  return new RegExp(re + "$", "s");
}

/** OpenSSH's match_hostname: any positive pattern matches and no negated (`!`) one does. */
function patternsMatch(patterns: string[], name: string): boolean {
  let matched = false;
  for (const p of patterns) {
    const negated = p.startsWith("!");
    const body = (negated ? p.slice(1) : p).toLowerCase();
    if (globToRegExp(body).test(name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** Whether a known_hosts entry applies to host:port (hashed entries are checked with HMAC-SHA1 like OpenSSH). */
export function entryMatchesHost(entry: KnownHostsEntry, host: string, port: number): boolean {
  const name = knownHostsName(host, port);
  if (entry.hosts.kind === "hashed") {
    const digest = createHmac("sha1", entry.hosts.salt).update(name).digest();
    return digest.equals(entry.hosts.hash);
  }
  return patternsMatch(entry.hosts.patterns, name);
}

export type KnownHostsSource = { text: string; source?: string } | { path: string };

export interface VerifyHostKeyInput {
  host: string;
  port: number;
  offeredKey: Buffer;
  /** `SHA256:…`; when given it decides, and known_hosts (if also given) can only add a revocation. */
  pinned?: string;
  knownHosts?: KnownHostsSource;
}

export type HostKeyVerdict =
  | { ok: true; fingerprint: string; keyType: string; matchedBy: "pinned" | "known_hosts" }
  | {
      ok: false;
      reason: "unknown" | "changed" | "revoked";
      host: string;
      port: number;
      offeredFingerprint: string;
      offeredKeyType: string;
      expectedFingerprints: string[];
      /** What the decision was made against, for the message: "the pinned fingerprint" or a file. */
      source: string;
    };

function loadKnownHosts(src: KnownHostsSource): { text: string; source: string } {
  if ("text" in src) return { text: src.text, source: src.source ?? "known_hosts" };
  try {
    return { text: readFileSync(src.path, "utf8"), source: src.path };
  } catch (e) {
    // A missing file means "nothing is known", exactly as for OpenSSH; the message names the file.
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return { text: "", source: `${src.path} (missing)` };
    throw new SshError("SSH_HOST_KEY_UNKNOWN", `cannot read known_hosts file ${src.path}: ${(e as Error).message}`, {
      cause: e,
      details: { knownHostsPath: src.path },
    });
  }
}

function safeKeyType(blob: Buffer): string {
  try {
    return keyTypeOfBlob(blob);
  } catch {
    return "unknown-type";
  }
}

/** Decides whether the key a host offered may be trusted; never throws for a refusal (see {@link hostKeyError}). */
export function verifyHostKey(input: VerifyHostKeyInput): HostKeyVerdict {
  const { host, port, offeredKey } = input;
  if (input.pinned === undefined && input.knownHosts === undefined) {
    throw new ValidationError("a host key can only be verified against a pinned fingerprint or a known_hosts file", {
      trust: ["give pinnedFingerprint or knownHostsPath"],
    });
  }
  const offeredFingerprint = fingerprintOfKey(offeredKey);
  const offeredKeyType = safeKeyType(offeredKey);
  const refuse = (reason: "unknown" | "changed" | "revoked", expected: string[], source: string): HostKeyVerdict => ({
    ok: false,
    reason,
    host,
    port,
    offeredFingerprint,
    offeredKeyType,
    expectedFingerprints: expected,
    source,
  });

  let matching: KnownHostsEntry[] = [];
  let knownSource = "known_hosts";
  if (input.knownHosts !== undefined) {
    const loaded = loadKnownHosts(input.knownHosts);
    knownSource = loaded.source;
    matching = parseKnownHosts(loaded.text).entries.filter((e) => e.marker !== "cert-authority" && entryMatchesHost(e, host, port));
    if (matching.some((e) => e.marker === "revoked" && e.keyBlob.equals(offeredKey))) {
      return refuse("revoked", [], knownSource);
    }
  }

  if (input.pinned !== undefined) {
    const pinned = normalizeFingerprint(input.pinned);
    if (pinned === offeredFingerprint) {
      return { ok: true, fingerprint: offeredFingerprint, keyType: offeredKeyType, matchedBy: "pinned" };
    }
    return refuse("changed", [pinned], "the pinned fingerprint");
  }

  const trusted = matching.filter((e) => e.marker === null);
  if (trusted.some((e) => e.keyBlob.equals(offeredKey))) {
    return { ok: true, fingerprint: offeredFingerprint, keyType: offeredKeyType, matchedBy: "known_hosts" };
  }
  if (trusted.length > 0) {
    return refuse("changed", [...new Set(trusted.map((e) => fingerprintOfKey(e.keyBlob)))], knownSource);
  }
  return refuse("unknown", [], knownSource);
}

/** The SshError for a refused host key: names host:port, both fingerprints and what to do. */
export function hostKeyError(verdict: Extract<HostKeyVerdict, { ok: false }>): SshError {
  const where = hostPort(verdict.host, verdict.port);
  const offered = `${verdict.offeredFingerprint} (${verdict.offeredKeyType})`;
  const details = {
    host: verdict.host,
    port: verdict.port,
    offeredFingerprint: verdict.offeredFingerprint,
    expectedFingerprints: verdict.expectedFingerprints,
    source: verdict.source,
  };
  switch (verdict.reason) {
    case "changed":
      return new SshError(
        "SSH_HOST_KEY_CHANGED",
        `The SSH host key of ${where} has changed: expected ${verdict.expectedFingerprints.join(" or ")} ` +
          `(${verdict.source}), the host offered ${offered}. The connection was refused because this is what a ` +
          `man-in-the-middle looks like. If the VM was rebuilt, verify the new key on the VM itself ` +
          `(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub -E sha256) and pin the new fingerprint for this host.`,
        { details },
      );
    case "revoked":
      return new SshError(
        "SSH_HOST_KEY_REVOKED",
        `The SSH host key ${offered} offered by ${where} is marked @revoked in ${verdict.source}; ` +
          `the connection was refused. Replace the host's key, then pin its new fingerprint or add it to the known_hosts file.`,
        { details },
      );
    case "unknown":
      return new SshError(
        "SSH_HOST_KEY_UNKNOWN",
        `The SSH host key of ${where} is not known: ${verdict.source} has no entry for ${knownHostsName(verdict.host, verdict.port)}. ` +
          `The host offered ${offered}. Unknown keys are never accepted: verify this fingerprint on the VM ` +
          `(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub -E sha256) and pin it, or add the key to known_hosts.`,
        { details },
      );
  }
}
