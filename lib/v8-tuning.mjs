// V8 settings for the Node release that runs this process: server.mjs, `npm run worker` and `npm run
// gateway` apply them first thing (V8 reads them whenever it decides on a collection).
//
// Node 24's V8 (13.6) raised its young generation's default cap from 8 to 32 MB, which moved its "young
// Buffers: scavenge now" trigger from 32 to 128 MB — above the 64 MB of external memory that starts a
// full mark of the heap (nodejs/node#61967). Short-lived Buffers (the SSH gateway allocates a few for
// every packet it relays) were then reclaimed by marking the whole heap again and again: the gateway
// relayed 82–91 MB/s where Node 20 relays 121–133, its server 60–80 MB larger at the peak
// (docs/performance.md, "The SSH gateway on Node 24"). The old trigger back, and external memory counted
// in V8's global limit (V8's own later default), restore both. The young generation itself stays at npm
// start's --max-semi-space-size=8. Node 20 and 22 do not have the regression (22's cap is still 8 MB:
// 132.6 MB/s), and neither has the second flag (setting it prints "unrecognized flag").
import v8 from "node:v8";

/** The V8 flags for Node `version` ("24.22.3"). */
export function v8FlagsFor(version) {
  const major = Number(version.split(".")[0]);
  return major >= 24 ? ["--scavenger-max-new-space-capacity-mb=8", "--external-memory-accounted-in-global-limit"] : [];
}

/** Sets this process's flags; returns them (the server's start-up line reports them). */
export function applyV8Flags() {
  const flags = v8FlagsFor(process.versions.node);
  for (const flag of flags) v8.setFlagsFromString(flag);
  return flags;
}
