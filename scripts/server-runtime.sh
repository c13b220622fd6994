# Sourced by scripts/server-node.sh and scripts/with-node.sh: what node_modules/.sandboxer-runtime holds
# (scripts/install-runtime.mjs writes it at npm ci: .node-recommended's Node and better-sqlite3's addon).
#
# server_runtime <checkout> sets
#   runtime            the directory
#   runtime_release    the Node release in it ("" when there is no complete runtime)
#   runtime_built_for  the better-sqlite3 version its addon was built from
#   runtime_installed  the better-sqlite3 version installed in the checkout
#   runtime_ssh2       ssh2's crypto binding built for the runtime, when there is one for the installed
#                      ssh2 ("" otherwise: ssh2 then uses Node's crypto on the runtime)
# and returns 0 when the runtime is complete and its addon matches the installed package.
server_runtime() {
  runtime=$1/node_modules/.sandboxer-runtime
  runtime_release=
  runtime_built_for=
  runtime_installed=
  runtime_ssh2=
  if ! [ -f "$runtime/ready.json" ] || ! [ -x "$runtime/node/bin/node" ] || ! [ -f "$runtime/better_sqlite3.node" ]; then
    return 1
  fi
  local stamp
  stamp=$(cat "$runtime/ready.json")
  # The install script writes the stamp as one line of JSON; in package.json the first "version" line is the package's own.
  runtime_release=$(sed -n 's/.*"node":"\([^"]*\)".*/\1/p' <<< "$stamp")
  runtime_built_for=$(sed -n 's/.*"betterSqlite3":"\([^"]*\)".*/\1/p' <<< "$stamp")
  runtime_installed=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$1/node_modules/better-sqlite3/package.json" | head -n 1)
  local ssh2_for ssh2_installed
  ssh2_for=$(sed -n 's/.*"ssh2":"\([^"]*\)".*/\1/p' <<< "$stamp")
  ssh2_installed=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$1/node_modules/ssh2/package.json" 2> /dev/null | head -n 1 || true)
  if [ -f "$runtime/sshcrypto.node" ] && [ -n "$ssh2_for" ] && [ "$ssh2_for" = "$ssh2_installed" ]; then
    runtime_ssh2=$runtime/sshcrypto.node
  fi
  [ -n "$runtime_release" ] && [ "$runtime_built_for" = "$runtime_installed" ]
}
