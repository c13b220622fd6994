// Preloaded (`node --require`) by scripts/server-node.sh when a server runs on the runtime npm ci set up
// (node_modules/.sandboxer-runtime; docs/decisions/0011-server-runtime.md) and that runtime holds ssh2's
// optional crypto binding built for it (SANDBOXER_SSH2_BINDING, scripts/install-runtime.mjs).
//
// ssh2 loads its binding from a fixed path inside its own package, built there for the machine's Node.
// The runtime cannot load that one; ssh2 then falls back to Node's own crypto and the SSH gateway relays
// about a third less (100 MB through `cat`: 67.3–84.6 against 91.6–96.2 MB/s, docs/performance.md). This hands
// ssh2 the runtime's build when it asks for that one file; every other addon loads as asked. ssh2 only
// reaches this when its own build exists (a missing file fails its `require` first: it falls back).
"use strict";

const binding = process.env.SANDBOXER_SSH2_BINDING;
if (binding) {
  // The runtime is Linux x64 only (scripts/install-runtime.mjs): "/" separates.
  const asked = "/node_modules/ssh2/lib/protocol/crypto/build/Release/sshcrypto.node";
  const dlopen = process.dlopen;
  process.dlopen = function dlopenRuntimeBuild(module, filename, ...rest) {
    return dlopen.call(this, module, typeof filename === "string" && filename.endsWith(asked) ? binding : filename, ...rest);
  };
}
