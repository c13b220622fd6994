// pinnedTarget with a stand-in API client (which paths it asks for): `run` hands it the route it asked
// for during the create and the create's own view, so going through the gateway needs no further
// request; without a gateway it still asks for the VM's connection details.
import crypto from "node:crypto";

import { describe, expect, it } from "vitest";

import type { GatewayInfo } from "@/lib/gateway/instance";
import type { ConnectionView } from "@/lib/manager/connection";
import type { SandboxView } from "@/lib/manager/views";

import type { ApiClient } from "../api-client";
import { CliError, EXIT } from "../exit-codes";
import { pinnedTarget } from "./remote";

function keyLine(name: string): { line: string; fingerprint: string } {
  const { publicKey } = crypto.generateKeyPairSync("ed25519");
  const raw = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  const blob = Buffer.concat([str(Buffer.from("ssh-ed25519")), str(raw)]);
  return {
    line: `${name} ssh-ed25519 ${blob.toString("base64")}`,
    fingerprint: "SHA256:" + crypto.createHash("sha256").update(blob).digest("base64").replace(/=+$/, ""),
  };
}

const ID = "abcdefgh1234";
const gatewayKey = keyLine("[127.0.0.1]:2022");
const GATEWAY: GatewayInfo = { host: "127.0.0.1", port: 2022, fingerprint: gatewayKey.fingerprint, knownHostsLine: gatewayKey.line };
const vmKey = keyLine("[127.0.0.1]:12222");
const CONNECTION: ConnectionView = {
  sandboxId: ID,
  hostId: "vm1",
  host: "127.0.0.1",
  port: 12222,
  user: "build",
  workspacePath: `/build/sbx-${ID}`,
  hostKey: vmKey.fingerprint,
  knownHostsLine: vmKey.line,
};
const VIEW = {
  id: ID,
  status: "ready",
  host: { id: "vm1", title: "vm1", address: "127.0.0.1", port: 12222 },
  handle: { target: "127.0.0.1:12222", workspacePath: `/build/sbx-${ID}`, teardown: [] },
} as unknown as SandboxView;

/** A client answering the gateway, the person's keys and the connection details, recording each path. */
function standIn(opts: { gateway: boolean; keys: number }): { client: ApiClient; asked: string[] } {
  const asked: string[] = [];
  const answers: Record<string, unknown> = {
    "/ssh-gateway": GATEWAY,
    "/me/ssh-keys": { keys: Array.from({ length: opts.keys }, (_, i) => ({ id: `k${i}` })) },
    [`/sandboxes/${ID}/connection`]: CONNECTION,
  };
  const client = {
    get: async (p: string) => {
      asked.push(p);
      if (p === "/ssh-gateway" && !opts.gateway) throw new CliError("NOT_FOUND", "the gateway is off", EXIT.NOT_FOUND, { status: 404 });
      if (!(p in answers)) throw new Error(`unexpected GET ${p}`);
      return answers[p];
    },
  } as unknown as ApiClient;
  return { client, asked };
}

describe("pinnedTarget", () => {
  it("through the gateway with the create's view: the gateway's route only, no connection details asked for", async () => {
    const { client, asked } = standIn({ gateway: true, keys: 1 });
    const target = await pinnedTarget(client, ID, undefined, undefined, false, true, { view: VIEW });
    try {
      expect(asked.sort()).toEqual(["/me/ssh-keys", "/ssh-gateway"]);
      expect(target.destination).toBe(`${ID}@127.0.0.1`);
      expect(target.conn).toMatchObject({ port: 2022, hostKey: GATEWAY.fingerprint, workspacePath: `/build/sbx-${ID}` });
    } finally {
      await target.close();
    }
  });

  it("without a view, or with --direct, or with no key registered, it asks for the connection details", async () => {
    for (const [opts, direct, view, port] of [
      [{ gateway: true, keys: 1 }, false, undefined, 2022],
      [{ gateway: true, keys: 1 }, true, VIEW, 12222],
      [{ gateway: true, keys: 0 }, false, VIEW, 12222],
      [{ gateway: false, keys: 1 }, false, VIEW, 12222],
    ] as const) {
      const { client, asked } = standIn(opts);
      const target = await pinnedTarget(client, ID, undefined, undefined, direct, true, { view });
      try {
        expect(asked).toContain(`/sandboxes/${ID}/connection`);
        expect(target.conn.port).toBe(port);
      } finally {
        await target.close();
      }
    }
  });

  it("a view of another sandbox, or one not ready, is not used", async () => {
    for (const view of [
      { ...VIEW, id: "zzzzzzzz9999" },
      { ...VIEW, status: "creating" },
    ] as SandboxView[]) {
      const { client, asked } = standIn({ gateway: true, keys: 1 });
      const target = await pinnedTarget(client, ID, undefined, undefined, false, true, { view });
      try {
        expect(asked).toContain(`/sandboxes/${ID}/connection`);
      } finally {
        await target.close();
      }
    }
  });
});
