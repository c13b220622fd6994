import type { Metadata } from "next";
import { redirect } from "next/navigation";

import { ssoEnabled } from "@/lib/auth/auth";
import { optionalPageActor } from "@/lib/auth/guards";
import { env } from "@/lib/env";
import { manager } from "@/lib/manager/instance";
import { safeNextPath } from "@/lib/safe-next";

import { AuthForm } from "../auth-form";

export const metadata: Metadata = { title: "Create an account" };

export default async function SignUpPage({ searchParams }: { searchParams: Promise<{ next?: string }> }) {
  const { next } = await searchParams;
  if (await optionalPageActor()) redirect(safeNextPath(next));
  if (!env().SANDBOXER_ALLOW_SIGNUP) redirect("/sign-in");
  const firstAccount = (await manager().listPeople()).length === 0;
  return <AuthForm mode="sign-up" next={next} sso={ssoEnabled()} firstAccount={firstAccount} signupAllowed />;
}
