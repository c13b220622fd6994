// Builds the `sandboxer` CLI into one CommonJS file that needs only Node (no node_modules, no tsx),
// which the server serves at /cli/sandboxer.cjs (app/cli/sandboxer.cjs/route.ts). `next build` runs
// this after compiling (next.config.ts), writing <distDir>/cli/sandboxer.cjs; run it alone with
// `node scripts/build-cli.mjs [outfile]`.
//
// CommonJS rather than ESM: a file saved as `~/.local/bin/sandboxer` (no extension) is loaded as
// CommonJS by Node, and loading one CommonJS file is the fastest start Node has. The lib/ modules the
// CLI shares with the server import "server-only"; the react-server condition resolves it to its empty
// module, as the npm scripts' `node --conditions=react-server` does.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The bundle's path under a Next.js build directory. */
export function cliBundleFile(distDir) {
  return path.join(distDir, "cli", "sandboxer.cjs");
}

/**
 * `validate` checks a checkout of the server's configuration and loads every extension (ssh2 and its
 * native add-on with them): in the bundle it is replaced by a command that says where to run it.
 */
const bundledValidate = {
  name: "sandboxer-bundled-validate",
  setup(build) {
    build.onResolve({ filter: /\/commands\/validate$/ }, (args) => ({
      path: path.join(path.dirname(args.importer), "commands", "validate-bundled.ts"),
    }));
  },
};

/**
 * Built-in modules most commands never touch, loaded on first use: `node:child_process` costs ~18 ms
 * (it pulls in net, dgram and more), a third of the CLI's start, and only ssh, exec, run, doctor and
 * port-forward spawn anything; `node:crypto` only fingerprints host keys. Every import of them (ours
 * and commander's) gets a stand-in whose functions load the real module when first called. A member
 * not listed here fails the build ("No matching export"), never a run.
 */
const LAZY_BUILTINS = { child_process: ["spawn", "execFile"], crypto: ["createHash", "createHmac"] };
const lazyBuiltins = {
  name: "sandboxer-lazy-builtins",
  setup(build) {
    const names = Object.keys(LAZY_BUILTINS).join("|");
    build.onResolve({ filter: new RegExp(`^(node:)?(${names})$`) }, (args) =>
      args.namespace === "lazy-builtin" ? undefined : { path: args.path.replace(/^node:/, ""), namespace: "lazy-builtin" },
    );
    build.onLoad({ filter: /.*/, namespace: "lazy-builtin" }, (args) => ({
      contents:
        `let real;\nconst load = () => (real ??= require("node:${args.path}"));\n` +
        LAZY_BUILTINS[args.path].map((name) => `export function ${name}(...a) { return load().${name}(...a); }`).join("\n"),
      loader: "js",
    }));
  },
};

/** Writes the bundle to `outFile` (through a temporary file: a server reading it never sees half of it). */
export async function buildCliBundle({ outFile, projectDir = ROOT } = {}) {
  const esbuild = await import("esbuild");
  const pkg = JSON.parse(fs.readFileSync(path.join(projectDir, "package.json"), "utf8"));
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  const tmp = `${outFile}.${process.pid}.tmp`;
  const result = await esbuild.build({
    absWorkingDir: projectDir,
    entryPoints: [path.join(projectDir, "cli", "bundle-entry.ts")],
    outfile: tmp,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    conditions: ["react-server"],
    tsconfig: path.join(projectDir, "tsconfig.json"),
    minify: true,
    legalComments: "none",
    banner: { js: `#!/usr/bin/env node\n// sandboxer ${pkg.version}: the sand-boxer CLI, one file; needs Node ${pkg.engines.node}.` },
    plugins: [bundledValidate, lazyBuiltins],
    logLevel: "warning",
    metafile: true,
  });
  fs.chmodSync(tmp, 0o755);
  fs.renameSync(tmp, outFile);
  return { outFile, bytes: fs.statSync(outFile).size, inputs: Object.keys(result.metafile.inputs).length };
}

// No top-level await: next.config.ts loads this module with require().
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outFile = path.resolve(process.argv[2] ?? cliBundleFile(path.join(ROOT, process.env.SANDBOXER_DIST_DIR ?? ".next")));
  buildCliBundle({ outFile }).then(({ bytes, inputs }) =>
    console.log(`sandboxer CLI bundle: ${outFile} (${Math.round(bytes / 1024)} KiB from ${inputs} modules)`),
  );
}
