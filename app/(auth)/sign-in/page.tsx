import type { Metadata } from "next";
import { redirect } from "next/navigation";

import { ssoEnabled } from "@/lib/auth/auth";
import { optionalPageActor } from "@/lib/auth/guards";
import { env } from "@/lib/env";
import { manager } from "@/lib/manager/instance";
import { safeNextPath } from "@/lib/safe-next";

import { AuthForm } from "../auth-form";

export const metadata: Metadata = { title: "Sign in" };

export default async function SignInPage({ searchParams }: { searchParams: Promise<{ next?: string }> }) {
  const { next } = await searchParams;
  if (await optionalPageActor()) redirect(safeNextPath(next));
  const noUsers = (await manager().listPeople()).length === 0;
  if (noUsers && env().SANDBOXER_ALLOW_SIGNUP) redirect(`/sign-up${next ? `?next=${encodeURIComponent(next)}` : ""}`);
  return <AuthForm mode="sign-in" next={next} sso={ssoEnabled()} firstAccount={false} signupAllowed={env().SANDBOXER_ALLOW_SIGNUP} />;
}
