// npm run validate:config [-- <config-dir>]: `sandboxer validate` (cli/commands/validate.ts) for CI and
// the validate script: every manifest (extensions/*.yaml), profile (profiles/*.yaml) and hosts file
// loaded the way the server does, each problem with file, line and field; exit 1 when there is any.
import { main } from "../cli/main";

process.exit(await main(["validate", process.argv[2] ?? "."]));
