#!/usr/bin/env bash
# Runs `node <arguments>` for a server process (npm start, npm run worker, npm run gateway) on the
# release npm ci set up for servers in node_modules/.sandboxer-runtime (scripts/install-runtime.mjs:
# .node-recommended's Node and better-sqlite3's addon built for it), or, when there is none or
# SANDBOXER_RUNTIME=system, on the machine's node. docs/decisions/0011-server-runtime.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runtime=$root/node_modules/.sandboxer-runtime
unset SANDBOXER_SQLITE_BINDING
if [ "${SANDBOXER_RUNTIME:-}" != system ] && [ -f "$runtime/ready.json" ] && [ -x "$runtime/node/bin/node" ] &&
  [ -f "$runtime/better_sqlite3.node" ]; then
  stamp=$(cat "$runtime/ready.json")
  built_for=$(sed -n 's/.*"betterSqlite3":"\([^"]*\)".*/\1/p' <<< "$stamp")
  installed=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$root/node_modules/better-sqlite3/package.json" | head -n 1)
  release=$(sed -n 's/.*"node":"\([^"]*\)".*/\1/p' <<< "$stamp")
  if [ "$built_for" != "$installed" ]; then
    # Its addon would not match the installed package's code: run where that code was built.
    echo "server-node.sh: the server runtime's SQLite addon is for better-sqlite3 $built_for, $installed is installed: running on the machine's Node; npm ci sets it up again" >&2
  else
    recommended=$(tr -d '[:space:]' < "$root/.node-recommended" 2> /dev/null || true)
    if [ -n "$recommended" ] && [ "$release" != "$recommended" ]; then
      echo "server-node.sh: running on Node $release; .node-recommended asks for $recommended: npm ci sets it up" >&2
    fi
    # better-sqlite3's default addon is built for the machine's Node; this one for the runtime's (lib/db/sqlite-binding.ts).
    export SANDBOXER_SQLITE_BINDING=$runtime/better_sqlite3.node
    exec "$runtime/node/bin/node" "$@"
  fi
fi
if [ "${SANDBOXER_RUNTIME:-}" != system ] && [ -f "$runtime.failed" ]; then
  echo "server-node.sh: running on the machine's Node: at install, $(head -n 1 "$runtime.failed")" >&2
fi
exec node "$@"
