#!/usr/bin/env bash
# Runs `node <arguments>` for a server process (npm start, npm run worker, npm run gateway) on the
# release npm ci set up for servers in node_modules/.sandboxer-runtime (scripts/install-runtime.mjs:
# .node-recommended's Node and better-sqlite3's addon built for it), or, when there is none or
# SANDBOXER_RUNTIME=system, on the machine's node. docs/decisions/0011-server-runtime.md.
set -euo pipefail
runtime=$(cd "$(dirname "$0")/.." && pwd)/node_modules/.sandboxer-runtime
if [ "${SANDBOXER_RUNTIME:-}" != system ] && [ -f "$runtime/ready.json" ]; then
  # better-sqlite3's default addon is built for the machine's Node; this one for the runtime's (lib/db/sqlite-binding.ts).
  export SANDBOXER_SQLITE_BINDING=$runtime/better_sqlite3.node
  exec "$runtime/node/bin/node" "$@"
fi
unset SANDBOXER_SQLITE_BINDING
exec node "$@"
