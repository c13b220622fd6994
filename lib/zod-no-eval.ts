// zod compiles object parsers with `new Function` when it may, and probes for that by calling it once.
// In the browser the Content-Security-Policy has no 'unsafe-eval', so the probe is reported as a
// violation (the parse itself falls back fine). Client components import this module before any
// module that builds a zod schema: the setting is read when a schema is created.
import { z } from "zod";

z.config({ jitless: true });
