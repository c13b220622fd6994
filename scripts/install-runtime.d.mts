// Types of scripts/install-runtime.mjs for its tests.
export const RUNTIME_DIR: string;
export const FAILED_FILE: string;
export const NODE_INTEGRITY: Record<string, string>;
export function skipReason(opts: {
  version: string;
  env: Record<string, string | undefined>;
  platform: string;
  arch: string;
  machineVersion: string;
}): string | null;
export function installedStamp(): { node: string; betterSqlite3: string; ssh2?: string; ssh2Crypto?: boolean; builtAt: string } | null;
