// Unit tests for what connect() decides before any socket exists: config validation and key
// loading. Everything that needs a server is in tests/integration/ssh-connection.test.ts.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

import { AbortedError, ValidationError } from "@/lib/errors";

import { checkExitStatus, connect } from "./connection";
import { describeTarget, parseSshConfig, type SshConfig } from "./ssh-config";
import { SshError } from "./errors";

let dir: string;
let keyPath: string;
let encryptedKeyPath: string;
const PIN = "SHA256:" + "A".repeat(43);

function cfg(over: Partial<SshConfig> = {}): SshConfig {
  return {
    host: "127.0.0.1",
    port: 1,
    user: "sbxtest",
    identity: { privateKeyPath: keyPath },
    trust: { pinnedFingerprint: PIN },
    ...over,
  };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as SshError).code;
  }
  throw new Error("expected a rejection");
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "sbx-conn-"));
  keyPath = path.join(dir, "id");
  encryptedKeyPath = path.join(dir, "id_enc");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyPath]);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "correct horse", "-f", encryptedKeyPath]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("parseSshConfig", () => {
  it("fills in port 22 and normalises the pin", () => {
    const parsed = parseSshConfig({ ...cfg(), port: undefined, trust: { pinnedFingerprint: PIN + "=" } });
    expect(parsed.port).toBe(22);
    expect(parsed.trust).toEqual({ pinnedFingerprint: PIN });
  });

  it.each<[string, Partial<SshConfig>, string]>([
    ["a host that would be an ssh option", { host: "-oProxyCommand=sh" }, "host"],
    ["a host with a space", { host: "a b" }, "host"],
    ["a user@host", { user: "root@x" }, "user"],
    ["a user starting with -", { user: "-l" }, "user"],
    ["port 0", { port: 0 }, "port"],
    ["port 70000", { port: 70000 }, "port"],
    ["a relative key path", { identity: { privateKeyPath: "id_ed25519" } }, "identity"],
    ["a passphrase instead of a variable name", { identity: { privateKeyPath: "/k", passphraseEnv: "hunter 2" } }, "identity"],
    ["no trust at all", { trust: {} as SshConfig["trust"] }, "trust"],
    ["a malformed pin", { trust: { pinnedFingerprint: "MD5:00:11" } }, "trust"],
    ["a relative known_hosts", { trust: { knownHostsPath: "known_hosts" } }, "trust"],
  ])("refuses %s", (_what, over, field) => {
    try {
      parseSshConfig(cfg(over));
      throw new Error("accepted");
    } catch (e) {
      expect(e).toBeInstanceOf(ValidationError);
      expect(Object.keys((e as ValidationError).fieldErrors).some((k) => k.startsWith(field))).toBe(true);
    }
  });

  it("refuses trust that mixes a pin with auto-accept options", () => {
    expect(() => parseSshConfig(cfg({ trust: { pinnedFingerprint: PIN, acceptNew: true } as unknown as SshConfig["trust"] }))).toThrow(
      ValidationError,
    );
  });

  it("describes targets as user@host:port", () => {
    expect(describeTarget({ host: "127.0.0.2", port: 2222, user: "u" })).toBe("u@127.0.0.2:2222");
    expect(describeTarget({ host: "::1", port: 22, user: "u" })).toBe("u@[::1]:22");
  });
});

describe("connect before the network", () => {
  it("reports a missing key as SSH_KEY_UNREADABLE naming the path", async () => {
    const missing = path.join(dir, "does-not-exist");
    await expect(connect(cfg({ identity: { privateKeyPath: missing } }))).rejects.toMatchObject({
      code: "SSH_KEY_UNREADABLE",
      message: expect.stringContaining(missing),
    });
  });

  it("reports a garbage key as SSH_KEY_UNREADABLE without echoing its content", async () => {
    const junk = path.join(dir, "junk");
    writeFileSync(junk, "-----BEGIN OPENSSH PRIVATE KEY-----\nsecretsecret\n-----END OPENSSH PRIVATE KEY-----\n");
    const err = (await connect(cfg({ identity: { privateKeyPath: junk } })).catch((e: unknown) => e)) as SshError;
    expect(err.code).toBe("SSH_KEY_UNREADABLE");
    expect(err.message).not.toContain("secretsecret");
  });

  it("asks for passphraseEnv when the key is encrypted, and reports an unset or wrong passphrase", async () => {
    expect(await codeOf(connect(cfg({ identity: { privateKeyPath: encryptedKeyPath } })))).toBe("SSH_KEY_UNREADABLE");
    delete process.env.SBX_TEST_UNSET_PASSPHRASE;
    expect(await codeOf(connect(cfg({ identity: { privateKeyPath: encryptedKeyPath, passphraseEnv: "SBX_TEST_UNSET_PASSPHRASE" } })))).toBe(
      "SSH_KEY_UNREADABLE",
    );
    vi.stubEnv("SBX_TEST_WRONG_PASSPHRASE", "wrong");
    try {
      expect(
        await codeOf(connect(cfg({ identity: { privateKeyPath: encryptedKeyPath, passphraseEnv: "SBX_TEST_WRONG_PASSPHRASE" } }))),
      ).toBe("SSH_KEY_UNREADABLE");
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("reports a missing agent socket as SSH_KEY_UNREADABLE", async () => {
    expect(await codeOf(connect(cfg({ identity: { agent: true, agentSocket: path.join(dir, "no-agent.sock") } })))).toBe(
      "SSH_KEY_UNREADABLE",
    );
  });

  it("honours an already aborted signal", async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(connect(cfg(), { signal: ac.signal })).rejects.toBeInstanceOf(AbortedError);
  });
});

describe("checkExitStatus", () => {
  const base = { stdout: "", stderr: "", signal: null, stdoutTruncated: false, stderrTruncated: false, durationMs: 1 };

  it("passes exit 0 through and names command, code and last stderr lines otherwise", () => {
    expect(checkExitStatus(["true"], { ...base, code: 0 }, "u@h:22").code).toBe(0);
    const stderr = Array.from({ length: 30 }, (_, i) => `line ${i}`).join("\n");
    try {
      checkExitStatus(["make", "--secret-flag=x"], { ...base, code: 2, stderr }, "u@h:22");
      throw new Error("accepted");
    } catch (e) {
      expect(e).toBeInstanceOf(SshError);
      const err = e as SshError;
      expect(err.code).toBe("SSH_COMMAND_FAILED");
      expect(err.message).toContain("`make`");
      expect(err.message).toContain("exit code 2");
      expect(err.message).toContain("line 29");
      expect(err.message).not.toContain("line 3\n");
      expect(err.message).not.toContain("--secret-flag");
    }
  });

  it("reports death by signal", () => {
    expect(() => checkExitStatus(["sleep"], { ...base, code: null, signal: "KILL" }, "u@h:22")).toThrow(/signal KILL/);
  });
});
