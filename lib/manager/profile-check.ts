// "Can this profile work right now?" for `sandboxer doctor` and the API: runs the extension's
// `check()` against each registered host the profile could land on (the named host, or every host
// with its label), with a time limit, and reports one line per requirement. Nothing is created and no
// capacity is reserved; a check that throws becomes a failed requirement carrying its message.
import "server-only";

import { toHostTarget } from "../db/hosts";
import { isSandboxerError, NotFoundError } from "../errors";
import type { HostTarget, Requirement } from "../extensions/base";
import { isUsable } from "../extensions/catalog";
import type { ConfigIssue } from "../extensions/yaml-config";
import { hostsMatching } from "./host-picker";
import { extensionOf, type ManagerContext } from "./context";

export interface ProfileCheckTarget {
  /** The build host checked, or null for profiles that need none (ext.local). */
  host: { id: string; title: string; address: string; port: number; health: string } | null;
  requirements: Requirement[];
}

export interface ProfileCheckView {
  profileId: string;
  /** Every requirement of every target is met (and the profile file is valid). */
  ok: boolean;
  /**
   * Why the profile is not set up on this server (it needs a build host none registered provides),
   * or null. A fresh install has such profiles: `doctor` shows them as warnings, not failures.
   */
  notConfigured: string | null;
  /** The profile file's problems; an invalid profile is not checked against hosts. */
  errors: ConfigIssue[];
  targets: ProfileCheckTarget[];
}

const DEFAULT_TIMEOUT_MS = 20_000;

export async function checkProfile(
  manager: Pick<ManagerContext, "db" | "catalog">,
  profileId: string,
  opts: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<ProfileCheckView> {
  const entry = manager.catalog.profiles.find((p) => p.id === profileId);
  if (!entry) throw new NotFoundError("Profile", profileId);
  if (!isUsable(entry)) return { profileId, ok: false, notConfigured: null, errors: entry.errors, targets: [] };
  // A usable profile's extension is loaded (the catalog only parses params with a loaded extension).
  const extension = extensionOf(manager, entry.spec.extension)!;
  const signal = AbortSignal.any([AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS), ...(opts.signal ? [opts.signal] : [])]);
  const run = async (host: HostTarget | null): Promise<Requirement[]> => {
    try {
      return await extension.check({ params: entry.params, host, signal });
    } catch (e) {
      // Only our own messages are meant for people; anything else is summarised.
      const reason = signal.aborted
        ? `no answer within ${Math.round((opts.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000)} s`
        : isSandboxerError(e)
          ? e.message
          : `check failed: ${(e as Error).message}`;
      return [{ name: "check", met: false, reason }];
    }
  };

  const requirement = extension.hostRequirement(entry.params);
  let targets: ProfileCheckTarget[];
  let notConfigured: string | null = null;
  if (!requirement) {
    targets = [{ host: null, requirements: await run(null) }];
  } else {
    const { hosts: matching, none } = await hostsMatching(manager.db, requirement);
    if (matching.length === 0) {
      notConfigured = none;
      targets = [{ host: null, requirements: [{ name: "build host", met: false, reason: none }] }];
    } else {
      // Hosts are independent; checking them side by side keeps doctor quick on a pool of VMs.
      targets = await Promise.all(
        matching.map(async (row) => {
          const requirements = await run(toHostTarget(row));
          if (row.health === "disabled")
            requirements.unshift({ name: "scheduling", met: false, reason: `disabled: ${row.healthDetail ?? "by an admin"}` });
          return { host: { id: row.id, title: row.title, address: row.address, port: row.port, health: row.health }, requirements };
        }),
      );
    }
  }
  return { profileId, ok: targets.every((t) => t.requirements.every((r) => r.met)), notConfigured, errors: [], targets };
}
