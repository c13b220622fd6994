import type { Metadata } from "next";

import { requirePageActor } from "@/lib/auth/guards";
import { cliCommands } from "@/lib/cli-download";
import { env } from "@/lib/env";
import { manager } from "@/lib/manager/instance";
import { apiTokens } from "@/lib/manager/people";

import { PageHeader } from "../../../components/page-header";
import { TokenManager } from "./token-manager";

export const metadata: Metadata = { title: "API tokens" };

export default async function TokensPage() {
  const actor = await requirePageActor({ next: "/settings/tokens" });
  const m = manager();
  const tokens = await apiTokens(m, actor);
  return (
    <>
      <PageHeader
        title="API tokens"
        description="Tokens let the sandboxer CLI and scripts act as you (Authorization: Bearer …). Only a hash is stored: a token is shown once, when you create it. Each token expires, and its scopes limit what it may do."
      />
      <TokenManager
        initial={tokens}
        loginPrefix={cliCommands(env().publicUrl).loginPrefix}
        canAdmin={actor.kind !== "system" && actor.role === "admin"}
        ttlDefaultMs={m.config.tokenTtlDefaultMs}
        ttlMaxMs={m.config.tokenTtlMaxMs}
      />
    </>
  );
}
