import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ValidationError } from "@/lib/errors";

import { SshError } from "./errors";
import {
  entryMatchesHost,
  fingerprintOfKey,
  hostKeyError,
  keyTypeOfBlob,
  knownHostsLine,
  normalizeFingerprint,
  parseKnownHosts,
  verifyHostKey,
  type HostKeyVerdict,
} from "./host-keys";

interface TestKey {
  type: string;
  line: string; // "<type> <base64>"
  blob: Buffer;
  fingerprint: string; // from ssh-keygen
}

let dir: string;
const keys: Record<string, TestKey> = {};

function keygen(name: string, type: string, extra: string[] = []): TestKey {
  const file = path.join(dir, name);
  execFileSync("ssh-keygen", ["-q", "-t", type, ...extra, "-N", "", "-C", name, "-f", file]);
  const [keyType, b64] = readFileSync(`${file}.pub`, "utf8").trim().split(/\s+/);
  const fingerprint = execFileSync("ssh-keygen", ["-lf", `${file}.pub`, "-E", "sha256"])
    .toString()
    .split(/\s+/)[1]!;
  return { type: keyType!, line: `${keyType} ${b64}`, blob: Buffer.from(b64!, "base64"), fingerprint };
}

/** Where OpenSSH's own ssh-keygen -F finds host:port in a known_hosts file (line numbers), to check we agree. */
function opensshFind(file: string, name: string): boolean {
  try {
    return execFileSync("ssh-keygen", ["-F", name, "-f", file]).toString().includes("found");
  } catch {
    return false;
  }
}

function refusal(v: HostKeyVerdict): Extract<HostKeyVerdict, { ok: false }> {
  if (v.ok) throw new Error(`expected a refusal, got ${JSON.stringify(v)}`);
  return v;
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "sbx-hostkeys-"));
  keys.a = keygen("a", "ed25519");
  keys.b = keygen("b", "ed25519");
  keys.rsa = keygen("rsa", "rsa", ["-b", "2048"]);
  keys.ecdsa = keygen("ecdsa", "ecdsa");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("fingerprintOfKey", () => {
  it("matches ssh-keygen -lf -E sha256 for ed25519, rsa and ecdsa keys", () => {
    for (const k of Object.values(keys)) {
      expect(fingerprintOfKey(k.blob)).toBe(k.fingerprint);
      expect(keyTypeOfBlob(k.blob)).toBe(k.type);
    }
  });

  it("normalises pinned fingerprints and refuses malformed ones", () => {
    expect(normalizeFingerprint(keys.a!.fingerprint + "=")).toBe(keys.a!.fingerprint);
    expect(normalizeFingerprint(` ${keys.a!.fingerprint} `)).toBe(keys.a!.fingerprint);
    expect(() => normalizeFingerprint("MD5:aa:bb")).toThrow(ValidationError);
    expect(() => normalizeFingerprint("SHA256:short")).toThrow(ValidationError);
    expect(() => normalizeFingerprint("")).toThrow(ValidationError);
  });
});

describe("parseKnownHosts", () => {
  it("reads plain, comma-list, bracketed, hashed, marker and comment lines and reports junk", () => {
    const text = [
      "# a comment",
      "",
      `vm1.example.com,10.0.0.1 ${keys.a!.line}`,
      `[127.0.0.1]:12222 ${keys.a!.line} trailing comment`,
      `@revoked * ${keys.b!.line}`,
      `@cert-authority *.example.com ${keys.rsa!.line}`,
      `|1|${Buffer.alloc(20, 1).toString("base64")}|${Buffer.alloc(20, 2).toString("base64")} ${keys.ecdsa!.line}`,
      "garbage",
      `host ssh-ed25519 !!!notbase64`,
      `host ssh-rsa ${keys.a!.line.split(" ")[1]}`, // declared type disagrees with the blob
      `@weird host ${keys.a!.line}`,
    ].join("\n");
    const { entries, invalidLines } = parseKnownHosts(text);
    expect(entries.map((e) => [e.line, e.marker, e.hosts.kind, e.keyType])).toEqual([
      [3, null, "patterns", "ssh-ed25519"],
      [4, null, "patterns", "ssh-ed25519"],
      [5, "revoked", "patterns", "ssh-ed25519"],
      [6, "cert-authority", "patterns", "ssh-rsa"],
      [7, null, "hashed", keys.ecdsa!.type],
    ]);
    expect(invalidLines).toEqual([8, 9, 10, 11]);
  });

  it("matches hosts like OpenSSH: [host]:port for other ports, wildcards, negation, case", () => {
    const [plain, bracketed, wild, neg] = parseKnownHosts(
      [
        `VM1.example.com,10.0.0.1 ${keys.a!.line}`,
        `[127.0.0.1]:12222,[127.0.0.2]:2222 ${keys.a!.line}`,
        `*.example.com ${keys.a!.line}`,
        `*.example.com,!bad.example.com ${keys.a!.line}`,
      ].join("\n"),
    ).entries;
    expect(entryMatchesHost(plain!, "vm1.example.com", 22)).toBe(true);
    expect(entryMatchesHost(plain!, "10.0.0.1", 22)).toBe(true);
    expect(entryMatchesHost(plain!, "10.0.0.1", 2222)).toBe(false); // needs [10.0.0.1]:2222
    expect(entryMatchesHost(bracketed!, "127.0.0.1", 12222)).toBe(true);
    expect(entryMatchesHost(bracketed!, "127.0.0.2", 2222)).toBe(true);
    expect(entryMatchesHost(bracketed!, "127.0.0.1", 2222)).toBe(false);
    expect(entryMatchesHost(bracketed!, "127.0.0.1", 22)).toBe(false);
    expect(entryMatchesHost(wild!, "a.example.com", 22)).toBe(true);
    expect(entryMatchesHost(wild!, "example.com", 22)).toBe(false);
    expect(entryMatchesHost(neg!, "good.example.com", 22)).toBe(true);
    expect(entryMatchesHost(neg!, "bad.example.com", 22)).toBe(false);
  });

  it("matches entries hashed by ssh-keygen -H (and agrees with ssh-keygen -F)", () => {
    const file = path.join(dir, "known_hosts_hashed");
    writeFileSync(file, `[127.0.0.1]:12222 ${keys.a!.line}\nvm2.example.com ${keys.b!.line}\n`);
    execFileSync("ssh-keygen", ["-q", "-H", "-f", file]);
    const text = readFileSync(file, "utf8");
    expect(text).not.toContain("127.0.0.1");
    const entries = parseKnownHosts(text).entries;
    expect(entries.every((e) => e.hosts.kind === "hashed")).toBe(true);
    expect(entryMatchesHost(entries[0]!, "127.0.0.1", 12222)).toBe(true);
    expect(entryMatchesHost(entries[0]!, "127.0.0.1", 12223)).toBe(false);
    expect(entryMatchesHost(entries[0]!, "127.0.0.2", 12222)).toBe(false);
    expect(entryMatchesHost(entries[1]!, "vm2.example.com", 22)).toBe(true);
    expect(opensshFind(file, "[127.0.0.1]:12222")).toBe(true);
  });
});

describe("knownHostsLine", () => {
  it("renders a line OpenSSH finds for exactly that host:port", () => {
    const file = path.join(dir, "rendered");
    writeFileSync(file, knownHostsLine("127.0.0.2", 2222, keys.a!.blob) + "\n" + knownHostsLine("vm.example.com", 22, keys.b!.blob) + "\n");
    const text = readFileSync(file, "utf8");
    expect(text.split("\n")[0]).toBe(`[127.0.0.2]:2222 ${keys.a!.line}`);
    expect(text.split("\n")[1]).toBe(`vm.example.com ${keys.b!.line}`);
    expect(opensshFind(file, "[127.0.0.2]:2222")).toBe(true);
    expect(opensshFind(file, "vm.example.com")).toBe(true);
    expect(opensshFind(file, "[127.0.0.2]:2223")).toBe(false);
  });

  it("refuses host names that would corrupt the file", () => {
    expect(() => knownHostsLine("a b", 22, keys.a!.blob)).toThrow(ValidationError);
    expect(() => knownHostsLine("a,b", 22, keys.a!.blob)).toThrow(ValidationError);
    expect(() => knownHostsLine("*", 22, keys.a!.blob)).toThrow(ValidationError);
  });
});

describe("verifyHostKey", () => {
  const host = "127.0.0.1";
  const port = 12222;

  it("accepts the pinned key and refuses any other, naming both fingerprints", () => {
    expect(verifyHostKey({ host, port, offeredKey: keys.a!.blob, pinned: keys.a!.fingerprint })).toMatchObject({
      ok: true,
      matchedBy: "pinned",
      fingerprint: keys.a!.fingerprint,
    });
    const v = refusal(verifyHostKey({ host, port, offeredKey: keys.b!.blob, pinned: keys.a!.fingerprint }));
    expect(v.reason).toBe("changed");
    const err = hostKeyError(v);
    expect(err).toBeInstanceOf(SshError);
    expect(err.code).toBe("SSH_HOST_KEY_CHANGED");
    expect(err.message).toContain("127.0.0.1:12222");
    expect(err.message).toContain(keys.a!.fingerprint);
    expect(err.message).toContain(keys.b!.fingerprint);
    expect(err.message).toMatch(/rebuilt/);
    expect(err.message).toMatch(/pin the new fingerprint/);
  });

  it("uses known_hosts: match accepted, other key changed, no entry unknown", () => {
    const text = `[127.0.0.1]:12222 ${keys.a!.line}\n[127.0.0.2]:2222 ${keys.b!.line}\n`;
    expect(verifyHostKey({ host, port, offeredKey: keys.a!.blob, knownHosts: { text } })).toMatchObject({
      ok: true,
      matchedBy: "known_hosts",
    });
    const changed = refusal(verifyHostKey({ host, port, offeredKey: keys.b!.blob, knownHosts: { text } }));
    expect(changed.reason).toBe("changed");
    expect(changed.expectedFingerprints).toEqual([keys.a!.fingerprint]);
    const unknown = refusal(verifyHostKey({ host, port: 12223, offeredKey: keys.a!.blob, knownHosts: { text } }));
    expect(unknown.reason).toBe("unknown");
    expect(hostKeyError(unknown).code).toBe("SSH_HOST_KEY_UNKNOWN");
    expect(hostKeyError(unknown).message).toContain("[127.0.0.1]:12223");
    // A plain entry for the host does not cover another port (OpenSSH semantics).
    const plainOnly = refusal(verifyHostKey({ host, port, offeredKey: keys.a!.blob, knownHosts: { text: `127.0.0.1 ${keys.a!.line}\n` } }));
    expect(plainOnly.reason).toBe("unknown");
  });

  it("refuses everything when known_hosts is empty or missing", () => {
    expect(refusal(verifyHostKey({ host, port, offeredKey: keys.a!.blob, knownHosts: { text: "" } })).reason).toBe("unknown");
    const missing = refusal(verifyHostKey({ host, port, offeredKey: keys.a!.blob, knownHosts: { path: path.join(dir, "nope") } }));
    expect(missing.reason).toBe("unknown");
    expect(missing.source).toContain("missing");
  });

  it("reads a known_hosts file by path, hashed entries included", () => {
    const file = path.join(dir, "kh_path");
    writeFileSync(file, `[127.0.0.1]:12222 ${keys.a!.line}\n`);
    execFileSync("ssh-keygen", ["-q", "-H", "-f", file]);
    expect(verifyHostKey({ host, port, offeredKey: keys.a!.blob, knownHosts: { path: file } }).ok).toBe(true);
    expect(refusal(verifyHostKey({ host, port, offeredKey: keys.b!.blob, knownHosts: { path: file } })).reason).toBe("changed");
  });

  it("refuses @revoked keys even when another line (or the pin) trusts them", () => {
    const text = `[127.0.0.1]:12222 ${keys.a!.line}\n@revoked * ${keys.a!.line}\n`;
    const v = refusal(verifyHostKey({ host, port, offeredKey: keys.a!.blob, knownHosts: { text } }));
    expect(v.reason).toBe("revoked");
    expect(hostKeyError(v).code).toBe("SSH_HOST_KEY_REVOKED");
    expect(refusal(verifyHostKey({ host, port, offeredKey: keys.a!.blob, pinned: keys.a!.fingerprint, knownHosts: { text } })).reason).toBe(
      "revoked",
    );
  });

  it("ignores @cert-authority lines (no certificate support) instead of trusting their key", () => {
    const text = `@cert-authority [127.0.0.1]:12222 ${keys.a!.line}\n`;
    expect(refusal(verifyHostKey({ host, port, offeredKey: keys.a!.blob, knownHosts: { text } })).reason).toBe("unknown");
  });

  it("refuses a different key type for a known host as a change", () => {
    const text = `[127.0.0.1]:12222 ${keys.a!.line}\n`;
    const v = refusal(verifyHostKey({ host, port, offeredKey: keys.rsa!.blob, knownHosts: { text } }));
    expect(v.reason).toBe("changed");
    expect(v.offeredKeyType).toBe("ssh-rsa");
  });

  it("needs a pin or a known_hosts source", () => {
    expect(() => verifyHostKey({ host, port, offeredKey: keys.a!.blob })).toThrow(ValidationError);
  });
});
