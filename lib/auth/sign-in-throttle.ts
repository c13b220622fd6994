// Failed sign-ins per account, whatever address they come from: after 5 failures within 15 minutes
// (since the account's last successful sign-in), further attempts are refused with 429 and
// Retry-After until the oldest of those failures leaves the window. The count is read from the audit
// log, which records every attempt already — so every instance sharing the database sees the same
// count, and a restart forgets nothing. (better-auth's own limit is per address: a botnet or a forged
// address never met it.)
import "server-only";

import type { Db } from "../db/client";

export const SIGN_IN_THROTTLE = { failures: 5, windowMs: 15 * 60_000 } as const;

/** The account key of a sign-in attempt (its audit target): the email as better-auth compares it. */
export function signInAccountKey(email: string): string {
  return email.trim().toLowerCase().slice(0, 200);
}

/** Seconds until `email` may try again, or null when it may try now. */
export async function signInRetryAfter(db: Db, email: string, now = new Date()): Promise<number | null> {
  const target = signInAccountKey(email);
  const windowStart = new Date(now.getTime() - SIGN_IN_THROTTLE.windowMs);
  const lastOk = await db.event.findFirst({
    where: { action: "auth.sign_in", target, result: "ok", createdAt: { gte: windowStart } },
    orderBy: { id: "desc" },
    select: { createdAt: true },
  });
  const failures = await db.event.findMany({
    where: { action: "auth.sign_in", target, result: "failed", createdAt: { gt: lastOk?.createdAt ?? windowStart } },
    orderBy: { id: "desc" },
    take: SIGN_IN_THROTTLE.failures,
    select: { createdAt: true },
  });
  if (failures.length < SIGN_IN_THROTTLE.failures) return null;
  const oldest = failures[failures.length - 1]!.createdAt.getTime();
  return Math.max(1, Math.ceil((oldest + SIGN_IN_THROTTLE.windowMs - now.getTime()) / 1000));
}
