// Entry point of the single-file CLI the server serves (scripts/build-cli.mjs bundles from here);
// bin/sandboxer.mjs is the one for a checkout of the repository.
import { main } from "./main";

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
