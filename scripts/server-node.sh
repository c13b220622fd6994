#!/usr/bin/env bash
# Runs `node <arguments>` for a server process (npm start, npm run worker, npm run gateway) on the
# release npm ci set up for servers in node_modules/.sandboxer-runtime (scripts/install-runtime.mjs:
# .node-recommended's Node and better-sqlite3's addon built for it), or, when there is none or
# SANDBOXER_RUNTIME=system, on the machine's node. docs/decisions/0011-server-runtime.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/server-runtime.sh
. "$root/scripts/server-runtime.sh"
unset SANDBOXER_SQLITE_BINDING SANDBOXER_SSH2_BINDING
if [ "${SANDBOXER_RUNTIME:-}" != system ]; then
  if server_runtime "$root"; then
    recommended=$(tr -d '[:space:]' < "$root/.node-recommended" 2> /dev/null || true)
    if [ -n "$recommended" ] && [ "$runtime_release" != "$recommended" ]; then
      echo "server-node.sh: running on Node $runtime_release; .node-recommended asks for $recommended: npm ci sets it up" >&2
    fi
    # better-sqlite3's default addon is built for the machine's Node; this one for the runtime's (lib/db/sqlite-binding.ts).
    export SANDBOXER_SQLITE_BINDING=$runtime/better_sqlite3.node
    if [ -n "$runtime_ssh2" ]; then
      # ssh2's is loaded from a fixed path in its package: a preload hands it this one (scripts/runtime-addons.cjs).
      export SANDBOXER_SSH2_BINDING=$runtime_ssh2
      exec "$runtime/node/bin/node" --require "$root/scripts/runtime-addons.cjs" "$@"
    fi
    exec "$runtime/node/bin/node" "$@"
  elif [ -n "$runtime_release" ]; then
    # Its addon would not match the installed package's code: run where that code was built.
    echo "server-node.sh: the server runtime's SQLite addon is for better-sqlite3 $runtime_built_for, $runtime_installed is installed: running on the machine's Node; npm ci sets it up again" >&2
  fi
fi
if [ "${SANDBOXER_RUNTIME:-}" != system ] && [ -f "$runtime.failed" ]; then
  echo "server-node.sh: running on the machine's Node: at install, $(head -n 1 "$runtime.failed")" >&2
fi
exec node "$@"
