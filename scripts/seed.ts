// npm run db:seed -- [--sandboxes 10000] [--active 500] [--owner-email you@example.test]
// Fills DATABASE_URL with synthetic people, hosts and sandboxes for demos, screenshots and the
// benchmark. Refuses a database that already has sandboxes (it is never meant for real data).
import { parseArgs } from "node:util";

import { dbReady } from "../lib/db/client";
import { seedSandboxes } from "../lib/db/seed";
import { env } from "../lib/env";
import { isSandboxerError } from "../lib/errors";

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      sandboxes: { type: "string", default: "10000" },
      active: { type: "string", default: "500" },
      "owner-email": { type: "string" },
    },
  });
  const sandboxes = Number(values.sandboxes);
  const active = Number(values.active);
  if (!Number.isInteger(sandboxes) || sandboxes < 0 || !Number.isInteger(active) || active < 0 || active > sandboxes) {
    console.error("--sandboxes and --active must be whole numbers, active ≤ sandboxes");
    return 1;
  }
  env();
  const db = await dbReady();
  if ((await db.sandbox.count()) > 0) {
    console.error("This database already has sandboxes; db:seed only fills an empty database.");
    return 1;
  }
  let ownerId: string | undefined;
  if (values["owner-email"]) {
    const owner = await db.user.findUnique({ where: { email: values["owner-email"] } });
    if (!owner) {
      console.error(`No account ${values["owner-email"]}`);
      return 1;
    }
    ownerId = owner.id;
  }
  const started = Date.now();
  const r = await seedSandboxes(db, { sandboxes, active, ownerId });
  console.log(
    `Seeded ${r.sandboxIds.length} sandboxes (${active} active), ${r.userIds.length} people, ${r.hostIds.length} hosts in ${Date.now() - started} ms.`,
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`Error: ${isSandboxerError(e) ? e.message : (e as Error).message}`);
    process.exit(1);
  },
);
