// Types of scripts/build-cli.mjs for next.config.ts.
export function cliBundleFile(distDir: string): string;
export function buildCliBundle(opts?: {
  outFile: string;
  projectDir?: string;
}): Promise<{ outFile: string; bytes: number; inputs: number }>;
