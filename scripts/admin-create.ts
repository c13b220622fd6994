// npm run admin:create -- --email <email> [--password <pw>] [--name <name>]
// Creates an admin account (or promotes an existing account to admin). Useful when sign-up is off,
// or to recover admin access. The password may come from SANDBOXER_ADMIN_PASSWORD instead of argv.
import { parseArgs } from "node:util";

import { auth } from "../lib/auth/auth";
import { PASSWORD_MIN_LENGTH, passwordProblem } from "../lib/auth/password-policy";
import { db, initDb } from "../lib/db/client";
import { systemActor } from "../lib/auth/actor";
import { logger } from "../lib/logger";
import { audit } from "../lib/manager/audit";
import { checkDataDir, env } from "../lib/env";
import { isSandboxerError } from "../lib/errors";

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { email: { type: "string" }, password: { type: "string" }, name: { type: "string" } } });
  const email = values.email?.trim().toLowerCase();
  const password = values.password ?? process.env.SANDBOXER_ADMIN_PASSWORD;
  if (!email || !/^[^@\s]+@[^@\s]+$/.test(email)) {
    console.error("usage: npm run admin:create -- --email <email> [--password <password>] [--name <name>]");
    return 1;
  }
  checkDataDir(env());
  await initDb();
  const existing = await db().user.findUnique({ where: { email } });
  if (existing) {
    await db().user.update({ where: { id: existing.id }, data: { role: "admin" } });
    await audit(
      { db: db(), logger: logger() },
      {
        actor: systemActor("admin:create"),
        action: "user.role",
        target: email,
        result: "ok",
        message: `${email}: ${existing.role} → admin (admin:create)`,
      },
    );
    console.log(`${email} is now an admin.`);
    return 0;
  }
  if (!password) {
    console.error(
      `--password (or SANDBOXER_ADMIN_PASSWORD) of at least ${PASSWORD_MIN_LENGTH} characters is needed to create a new account`,
    );
    return 1;
  }
  const problem = passwordProblem(password, { email });
  if (problem) {
    console.error(`--${problem}`);
    return 1;
  }
  const ctx = await auth().$context;
  const user = await ctx.internalAdapter.createUser(
    { email, name: values.name ?? email.split("@")[0]!, emailVerified: false },
    { method: "admin" },
  );
  await ctx.internalAdapter.linkAccount({
    userId: user.id,
    providerId: "credential",
    accountId: user.id,
    password: await ctx.password.hash(password),
  });
  await db().user.update({ where: { id: user.id }, data: { role: "admin" } });
  await audit(
    { db: db(), logger: logger() },
    {
      actor: systemActor("admin:create"),
      action: "user.role",
      target: email,
      result: "ok",
      message: `${email} created as admin (admin:create)`,
    },
  );
  console.log(`Created admin account ${email}.`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(`Error: ${isSandboxerError(e) ? e.message : (e as Error).message}`);
    process.exit(1);
  },
);
