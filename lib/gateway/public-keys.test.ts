// Public-key lines as people paste them, against keys made by the real ssh-keygen (fingerprints
// compared with `ssh-keygen -l`).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { PublicKeyError, parsePublicKey } from "./public-keys";

let dir: string;
const keys: Record<string, { line: string; fingerprint: string; privateText: string }> = {};

function keygen(name: string, args: string[]): void {
  const file = path.join(dir, name);
  execFileSync("ssh-keygen", ["-q", "-N", "", "-C", `${name}@laptop`, "-f", file, ...args]);
  const fingerprint = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", `${file}.pub`])
    .toString()
    .split(" ")[1]!;
  keys[name] = { line: readFileSync(`${file}.pub`, "utf8"), fingerprint, privateText: readFileSync(file, "utf8") };
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "sbx-pubkeys-"));
  keygen("ed", ["-t", "ed25519"]);
  keygen("p256", ["-t", "ecdsa", "-b", "256"]);
  keygen("p384", ["-t", "ecdsa", "-b", "384"]);
  keygen("p521", ["-t", "ecdsa", "-b", "521"]);
  keygen("rsa2048", ["-t", "rsa", "-b", "2048"]);
  keygen("rsa3072", ["-t", "rsa", "-b", "3072"]);
  // RSA generation is CPU-bound: on a loaded machine six keys exceed the default 10 s hook limit.
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function refusal(text: string): string {
  try {
    parsePublicKey(text);
  } catch (e) {
    if (e instanceof PublicKeyError) return e.message;
    throw e;
  }
  throw new Error("accepted");
}

describe("parsePublicKey", () => {
  it("accepts ed25519, ecdsa P-256/384/521 and RSA 3072 with ssh-keygen's fingerprint, bits and comment", () => {
    const want = { ed: 256, p256: 256, p384: 384, p521: 521, rsa3072: 3072 };
    for (const [name, bits] of Object.entries(want)) {
      const k = parsePublicKey(keys[name]!.line);
      expect(k.fingerprint).toBe(keys[name]!.fingerprint);
      expect(k.bits).toBe(bits);
      expect(k.comment).toBe(`${name}@laptop`);
    }
  });

  it("refuses short RSA, DSA, security keys, private keys, options, junk and several lines — each saying why", () => {
    expect(refusal(keys.rsa2048!.line)).toMatch(/at least 3072 bits; this one has 2048/);
    expect(refusal("ssh-dss AAAAB3NzaC1kc3MAAACBAP fred")).toMatch(/DSA keys are not accepted/);
    expect(refusal("sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t x")).toMatch(/security-key/);
    expect(refusal(keys.ed!.privateText)).toMatch(/PRIVATE key/);
    expect(refusal(`no-pty,command="x" ${keys.ed!.line}`)).toMatch(/authorized_keys options/);
    expect(refusal("ssh-ed25519 not*base64")).toMatch(/not base64/);
    expect(refusal(`${keys.ed!.line}\n${keys.p256!.line}`)).toMatch(/several lines/);
    expect(refusal("")).toMatch(/paste a public key/);
    // The blob says ecdsa, the line says ed25519.
    const p256Blob = keys.p256!.line.split(" ")[1]!;
    expect(refusal(`ssh-ed25519 ${p256Blob}`)).toMatch(/not ssh-ed25519/);
    // A cut line.
    const ed = keys.ed!.line.split(" ")[1]!;
    expect(refusal(`ssh-ed25519 ${ed.slice(0, 40)}`)).toMatch(/truncated|not valid base64/);
  });

  it("cleans comments of control characters and bounds them", () => {
    const [t, b] = keys.ed!.line.split(" ");
    const k = parsePublicKey(`${t} ${b} evil\u001b[31m\u202eend ${"x".repeat(300)}`);
    expect(k.comment).not.toMatch(/[\u001b\u202e]/);
    expect(k.comment.length).toBeLessThanOrEqual(100);
  });
});
