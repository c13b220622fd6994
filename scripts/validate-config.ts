// npm run validate:config [-- <config-dir>] (default $SANDBOXER_CONFIG_DIR, else .): `sandboxer validate` (cli/commands/validate.ts) for CI and
// the validate script: every manifest (extensions/*.yaml), profile (profiles/*.yaml) and hosts file
// loaded the way the server does, each problem with file, line and field; exit 1 when there is any.
import { main } from "../cli/main";

// Without an argument the directory is $SANDBOXER_CONFIG_DIR (as the server reads it), else ".".
process.exit(await main(["validate", ...process.argv.slice(2, 3)]));
