// A second process that sends creates: its own Manager (its own database connections, its own catalog
// from the same config directory), no worker. Prints "ready" once set up, waits for "go" on stdin,
// sends `count` creates at once as `userId`, and prints one JSON line with what each returned.
//   node --conditions=react-server --import tsx tests/support/claim-process.ts <configDir> <databaseUrl> <userId> <profileId> <count>
import os from "node:os";
import path from "node:path";
import readline from "node:readline";

import { createDb } from "@/lib/db/client";
import { loadCatalog } from "@/lib/extensions/catalog";
import { createRegistry } from "@/lib/extensions/registry";
import { createLogger } from "@/lib/logger";
import { Manager } from "@/lib/manager/manager";

const [configDir, url, userId, profileId, count] = process.argv.slice(2);
if (!configDir || !url || !userId || !profileId || !count)
  throw new Error("usage: claim-process <configDir> <databaseUrl> <userId> <profileId> <count>");

// The pool an app instance has by default (lib/db/client.ts).
const db = await createDb({ provider: "postgresql", url }, { poolSize: 10 });
const manager = new Manager({
  db,
  catalog: loadCatalog({
    configDir,
    registry: createRegistry(),
    services: { localWorkspaceRoot: path.join(os.tmpdir(), "claim-process-ws") },
  }),
  logger: createLogger("silent"),
  config: { quotaActive: 0, autoHostChecks: false },
});
const actor = { kind: "user" as const, userId, label: `${userId}@claim-process`, role: "member" as const };
// A first query, so connecting is not part of the race.
await manager.listHosts();
process.stdout.write("ready\n");
const rl = readline.createInterface({ input: process.stdin });
await new Promise<void>((resolve) => rl.once("line", () => resolve()));
rl.close();
const results = await Promise.allSettled(Array.from({ length: Number(count) }, () => manager.createSandbox(profileId, actor)));
process.stdout.write(
  JSON.stringify(
    results.map((r) =>
      r.status === "fulfilled" ? { id: r.value.id, status: r.value.status, owner: r.value.owner.id } : { error: String(r.reason) },
    ),
  ) + "\n",
);
await db.$disconnect();
