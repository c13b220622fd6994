import type { Metadata } from "next";

import { requirePageActor } from "@/lib/auth/guards";
import { gatewayInfo } from "@/lib/gateway/instance";
import { manager } from "@/lib/manager/instance";
import { listOwnSshKeys } from "@/lib/manager/ssh-keys";

import { PageHeader } from "../../../components/page-header";
import { KeyManager } from "./key-manager";

export const metadata: Metadata = { title: "SSH keys" };

export default async function SshKeysPage() {
  const actor = await requirePageActor({ next: "/settings/ssh-keys" });
  const keys = await listOwnSshKeys(manager(), actor);
  const gateway = gatewayInfo();
  return (
    <>
      <PageHeader
        title="SSH keys"
        description="Public keys the SSH gateway accepts from you: ssh -p <port> <sandbox-id>@<host> enters your sandboxes with any of them. Ed25519, ECDSA or RSA of at least 3072 bits."
      />
      {gateway ? (
        <p className="mb-4 text-sm text-muted-foreground" data-testid="gateway-fingerprint">
          The gateway at <code className="font-mono">{`${gateway.host}:${gateway.port}`}</code> presents the host key{" "}
          <code className="font-mono">{gateway.fingerprint}</code> — compare it with what ssh shows on first contact.
        </p>
      ) : (
        <p className="mb-4 text-sm text-muted-foreground">The SSH gateway is off on this server (SANDBOXER_SSH_GATEWAY=off).</p>
      )}
      <KeyManager initial={keys} />
    </>
  );
}
