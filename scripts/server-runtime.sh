# Sourced by scripts/server-node.sh and scripts/with-node.sh: what node_modules/.sandboxer-runtime holds
# (scripts/install-runtime.mjs writes it at npm ci: .node-recommended's Node, better-sqlite3's addon and
# ssh2's crypto binding).

# The install script writes the stamp as one line of JSON.
stamp_field() {
  sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" <<< "$2"
}

# The version of a package installed in a checkout ("" when it is not): in package.json the first
# "version" line is the package's own.
package_version() {
  sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$1/node_modules/$2/package.json" 2> /dev/null | head -n 1 || true
}

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
  local stamp ssh2_for ssh2_installed
  stamp=$(cat "$runtime/ready.json")
  runtime_release=$(stamp_field node "$stamp")
  runtime_built_for=$(stamp_field betterSqlite3 "$stamp")
  runtime_installed=$(package_version "$1" better-sqlite3)
  ssh2_for=$(stamp_field ssh2 "$stamp")
  ssh2_installed=$(package_version "$1" ssh2)
  if [ -f "$runtime/sshcrypto.node" ] && [ -n "$ssh2_for" ] && [ "$ssh2_for" = "$ssh2_installed" ]; then
    runtime_ssh2=$runtime/sshcrypto.node
  fi
  [ -n "$runtime_release" ] && [ "$runtime_built_for" = "$runtime_installed" ]
}
