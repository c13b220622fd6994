// better-sqlite3 loads the addon `npm ci` built for the machine's Node unless told otherwise. A server
// that scripts/server-node.sh runs on the server runtime (docs/decisions/0011-server-runtime.md) gets
// the addon built for that release in SANDBOXER_SQLITE_BINDING; every embedded-database connection of
// the process opens with it.

/** better-sqlite3's `nativeBinding` option for this process, or nothing for its default addon. */
export function sqliteBinding(env: NodeJS.ProcessEnv = process.env): { nativeBinding?: string } {
  const file = env.SANDBOXER_SQLITE_BINDING;
  return file ? { nativeBinding: file } : {};
}
