import crypto from "node:crypto";
import fs from "node:fs";

import { describe, expect, it } from "vitest";

import type { ConnectionView } from "@/lib/manager/connection";

import { PinnedTarget } from "./remote";

/** An ed25519 public key blob as SSH encodes it, and its OpenSSH fingerprint. */
function hostKey(): { base64: string; fingerprint: string } {
  const { publicKey } = crypto.generateKeyPairSync("ed25519");
  const raw = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  const blob = Buffer.concat([str(Buffer.from("ssh-ed25519")), str(raw)]);
  return {
    base64: blob.toString("base64"),
    fingerprint: "SHA256:" + crypto.createHash("sha256").update(blob).digest("base64").replace(/=+$/, ""),
  };
}

function connection(over: Partial<ConnectionView> = {}): ConnectionView {
  const key = hostKey();
  return {
    sandboxId: "abcdefgh1234",
    hostId: "vm1",
    host: "127.0.0.1",
    port: 12222,
    user: "build",
    workspacePath: "/build/sbx-abcdefgh1234",
    hostKey: key.fingerprint,
    knownHostsLine: `[127.0.0.1]:12222 ssh-ed25519 ${key.base64}`,
    ...over,
  };
}

describe("PinnedTarget", () => {
  it("writes exactly the pinned key to a private known_hosts and pins ssh to it", async () => {
    const conn = connection();
    const target = await PinnedTarget.open(conn, undefined);
    const args = target.sshOptions({ batch: true });
    const file = args[args.indexOf("-o") + 1]!.replace("UserKnownHostsFile=", "");
    expect(fs.readFileSync(file, "utf8")).toBe(conn.knownHostsLine + "\n");
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(args).toEqual(
      expect.arrayContaining([
        "StrictHostKeyChecking=yes",
        "GlobalKnownHostsFile=/dev/null",
        "HostKeyAlgorithms=ssh-ed25519",
        "BatchMode=yes",
        "-p",
        "12222",
      ]),
    );
    expect(target.destination).toBe("build@127.0.0.1");
    await target.close();
    expect(fs.existsSync(file)).toBe(false);
  });

  it("refuses details that could inject options or trust another key", async () => {
    const good = connection();
    const other = hostKey();
    for (const bad of [
      { host: "-oProxyCommand=evil" },
      { user: "-l root" },
      { workspacePath: "/build/../etc" },
      { knownHostsLine: good.knownHostsLine.replace("12222", "2222") },
      { knownHostsLine: `[127.0.0.1]:12222 ssh-ed25519 ${other.base64}` },
      { hostKey: other.fingerprint },
      { knownHostsLine: `${good.knownHostsLine}\n[evil]:1 ssh-ed25519 ${other.base64}` },
    ]) {
      await expect(PinnedTarget.open({ ...good, ...bad }, undefined), JSON.stringify(bad)).rejects.toMatchObject({
        code: "BAD_CONNECTION",
      });
    }
  });
});
