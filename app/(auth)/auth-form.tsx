"use client";

import { createAuthClient } from "better-auth/react";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";

import { PASSWORD_MIN_LENGTH } from "@/lib/auth/password-policy";
import { safeNextPath } from "@/lib/safe-next";

import { Button } from "../components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "../components/ui/card";
import { Input } from "../components/ui/input";
import { Label } from "../components/ui/label";

const authClient = createAuthClient();

export function AuthForm({
  mode,
  next,
  sso,
  firstAccount,
  signupAllowed,
}: {
  mode: "sign-in" | "sign-up";
  next?: string;
  sso: { name: string } | null;
  firstAccount: boolean;
  signupAllowed: boolean;
}) {
  const router = useRouter();
  const [pending, startTransition] = useTransition();
  const [error, setError] = useState<string | null>(null);

  function submit(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const fd = new FormData(e.currentTarget);
    const email = String(fd.get("email") ?? "").trim();
    const password = String(fd.get("password") ?? "");
    const name = String(fd.get("name") ?? "").trim() || email.split("@")[0] || email;
    setError(null);
    startTransition(async () => {
      const result =
        mode === "sign-in" ? await authClient.signIn.email({ email, password }) : await authClient.signUp.email({ email, password, name });
      if (result.error) {
        setError(result.error.message ?? "That did not work; check the email and password");
        return;
      }
      router.push(safeNextPath(next));
      router.refresh();
    });
  }

  const title = mode === "sign-in" ? "Sign in" : firstAccount ? "Create the first account" : "Create an account";
  return (
    <Card>
      <CardHeader>
        <CardTitle className="text-lg">{title}</CardTitle>
        <CardDescription>
          {mode === "sign-up" && firstAccount
            ? "Nobody has an account yet. The first account becomes the administrator."
            : mode === "sign-in"
              ? "Self-service sandboxes on the team's build VMs."
              : "New accounts are members: they create sandboxes and destroy their own."}
        </CardDescription>
      </CardHeader>
      <CardContent>
        <form onSubmit={submit} className="grid gap-4">
          {mode === "sign-up" ? (
            <div className="grid gap-1.5">
              <Label htmlFor="name">Name</Label>
              <Input id="name" name="name" autoComplete="name" />
            </div>
          ) : null}
          <div className="grid gap-1.5">
            <Label htmlFor="email">Email</Label>
            <Input id="email" name="email" type="email" autoComplete="email" required />
          </div>
          <div className="grid gap-1.5">
            <Label htmlFor="password">Password</Label>
            <Input
              id="password"
              name="password"
              type="password"
              autoComplete={mode === "sign-in" ? "current-password" : "new-password"}
              minLength={mode === "sign-in" ? undefined : PASSWORD_MIN_LENGTH}
              aria-describedby={mode === "sign-in" ? undefined : "password-hint"}
              required
            />
            {mode === "sign-in" ? null : (
              <p id="password-hint" className="text-xs text-muted-foreground">
                At least {PASSWORD_MIN_LENGTH} characters; not a common password, a sequence or your email address.
              </p>
            )}
          </div>
          {error ? (
            <p role="alert" className="text-sm text-destructive" data-testid="auth-error">
              {error}
            </p>
          ) : null}
          <Button type="submit" disabled={pending}>
            {pending ? "…" : mode === "sign-in" ? "Sign in" : "Create account"}
          </Button>
          {sso && mode === "sign-in" ? (
            <Button
              type="button"
              variant="outline"
              disabled={pending}
              onClick={() => void authClient.signIn.social({ provider: "oidc", callbackURL: safeNextPath(next) })}
              data-testid="sso"
            >
              Continue with {sso.name}
            </Button>
          ) : null}
        </form>
        <p className="mt-4 text-center text-sm text-muted-foreground">
          {mode === "sign-in" ? (
            signupAllowed ? (
              <>
                No account?{" "}
                <Link
                  className="text-primary underline underline-offset-2"
                  href={`/sign-up${next ? `?next=${encodeURIComponent(next)}` : ""}`}
                >
                  Create one
                </Link>
              </>
            ) : (
              "Ask an admin for an account."
            )
          ) : (
            <>
              Have an account?{" "}
              <Link className="text-primary underline underline-offset-2" href="/sign-in">
                Sign in
              </Link>
            </>
          )}
        </p>
      </CardContent>
    </Card>
  );
}
