// What commands share: the API client from the stored credentials, option parsers, and the
// "input" map of a create.
import type { WhoAmIView } from "@/lib/manager/whoami";

import { ApiClient } from "../api-client";
import { credentials } from "../config";
import { CliError, EXIT } from "../exit-codes";

export function apiClient(): ApiClient {
  const { url, token } = credentials();
  return new ApiClient(url, token);
}

/** Who a token speaks for, as login, whoami and doctor print it. */
export function describeIdentity(me: WhoAmIView): string {
  const token =
    me.via === "token"
      ? `, token "${me.tokenName ?? "?"}" with scopes ${(me.tokenScopes ?? []).join(" ") || "?"}, expires ${me.tokenExpiresAt ?? "never — legacy"}`
      : "";
  return `${me.email} (${me.role}${token})`;
}

/** Commander's collector for repeatable options (`--input a=1 --input b=2`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `--input key=value …` and `--ref` as the `input` of a create. */
export function inputMap(pairs: string[] = [], ref?: string): Record<string, string> {
  const input: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new CliError("BAD_INPUT", `--input ${JSON.stringify(pair)}: expected key=value`, EXIT.USAGE);
    input[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  if (ref !== undefined) input.ref = ref;
  return input;
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new CliError("BAD_NUMBER", `${JSON.stringify(value)} is not a positive whole number`, EXIT.USAGE);
  return n;
}

export const sandboxPath = (id: string) => `/sandboxes/${encodeURIComponent(id)}`;
