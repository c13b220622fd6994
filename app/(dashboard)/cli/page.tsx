import { Download } from "lucide-react";
import type { Metadata } from "next";
import Link from "next/link";

import { requirePageActor } from "@/lib/auth/guards";
import { CLI_BUNDLE_PATH, cliCommands, readCliBundle } from "@/lib/cli-download";
import { env } from "@/lib/env";
import { CLI_VERSION } from "@/cli/version";

import { PageHeader } from "../../components/page-header";
import { Button } from "../../components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "../../components/ui/card";
import { CopyField } from "../../components/ui/copy-field";

export const metadata: Metadata = { title: "Command line" };

export default async function CommandLinePage() {
  await requirePageActor({ next: "/cli" });
  const e = env();
  const commands = cliCommands(e.publicUrl);
  const bundle = readCliBundle(e.distDir);
  return (
    <>
      <PageHeader
        title="Command line"
        description="The sandboxer command: profiles, create, list, ssh, run and destroy from a terminal or a script. One file from this server; it needs only Node 20.19 or later."
        actions={
          bundle ? (
            <Button asChild variant="outline">
              <a href={CLI_BUNDLE_PATH} download="sandboxer.cjs" data-testid="cli-download-link">
                <Download aria-hidden /> Download sandboxer.cjs
              </a>
            </Button>
          ) : null
        }
      />
      <div className="grid max-w-3xl gap-4">
        {bundle ? null : (
          <p role="status" className="rounded-md border border-amber-500/40 bg-amber-500/5 p-3 text-sm">
            This server&apos;s build has no CLI bundle yet: <code className="font-mono">npm run build</code> makes it.
          </p>
        )}
        <Card>
          <CardHeader>
            <CardTitle>1. Install</CardTitle>
            <CardDescription>Into ~/.local/bin (make sure it is on your PATH):</CardDescription>
          </CardHeader>
          <CardContent className="space-y-3">
            <CopyField value={commands.install} label="install command" testId="cli-install" />
            <p className="text-sm text-muted-foreground">Or keep it where you are and run it with node sandboxer.cjs:</p>
            <CopyField value={commands.download} label="download command" testId="cli-download" />
            <p className="text-xs text-muted-foreground">
              Version <span data-testid="cli-version">{CLI_VERSION}</span>, the same as this server; a CLI from another version says so when
              it talks to the server.
            </p>
          </CardContent>
        </Card>
        <Card>
          <CardHeader>
            <CardTitle>2. Log in</CardTitle>
            <CardDescription>
              Create a token under{" "}
              <Link href="/settings/tokens" className="text-primary underline">
                API tokens
              </Link>
              : that page then shows the whole login command. With a token at hand, run this and paste it (then Enter and Ctrl-D):
            </CardDescription>
          </CardHeader>
          <CardContent className="space-y-3">
            <CopyField value={`${commands.loginPrefix} -`} label="login command" testId="cli-login" />
            <p className="text-sm text-muted-foreground">
              In CI, set <code className="font-mono">SANDBOXER_URL</code> and <code className="font-mono">SANDBOXER_TOKEN</code> instead of
              logging in.
            </p>
          </CardContent>
        </Card>
        <Card>
          <CardHeader>
            <CardTitle>3. Use it</CardTitle>
          </CardHeader>
          <CardContent className="space-y-3">
            <CopyField value="sandboxer create profile.local --wait" label="create command" />
            <CopyField value="sandboxer list --mine" label="list command" />
            <p className="text-sm text-muted-foreground">
              Every command has <code className="font-mono">--help</code>; the reference is{" "}
              <Link href="/docs/cli" className="text-primary underline">
                docs/cli.md
              </Link>
              .
            </p>
          </CardContent>
        </Card>
      </div>
    </>
  );
}
