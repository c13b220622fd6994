#!/usr/bin/env node
// The `sandboxer` command. The CLI is TypeScript (cli/), loaded through tsx like the npm scripts:
// paths resolve from this file, so it works from any directory and through `npx sandboxer`.
//
// The lib/ modules the CLI shares with the server (shell quoting, the config loaders of `validate`)
// import "server-only", which throws outside React's server condition. The npm scripts pass
// `node --conditions=react-server`; a resolve hook registered here adds the same condition to every
// import, which is the in-process equivalent (no second node process, so Ctrl-C and exit codes stay
// those of this process).
import { register } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import { register as registerTsx } from "tsx/esm/api";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

registerTsx({ tsconfig: path.join(root, "tsconfig.json") });
const addReactServerCondition = `export async function resolve(specifier, context, next) {
  const conditions = context.conditions.includes("react-server") ? context.conditions : [...context.conditions, "react-server"];
  return next(specifier, { ...context, conditions });
}`;
register(`data:text/javascript,${encodeURIComponent(addReactServerCondition)}`);

const { main } = await import(pathToFileURL(path.join(root, "cli", "main.ts")).href);
process.exitCode = await main(process.argv.slice(2));
