// The services of a sandbox, asked of its extension now: for the detail page's Services card and
// GET /api/v1/sandboxes/{id}/services. Extensions whose sandboxes run several services (ext.compose-ssh:
// one per compose service) report each one's state, health, published ports and, when it failed, its
// last log lines; the others report only the sandbox's health. Nothing is stored: a status call over
// SSH per request, bounded by a time limit.
import "server-only";

import type { SandboxHealth, ServiceReport } from "../extensions/base";
import { failureMessage } from "./operations/runtime";
import type { Manager } from "./manager";

export interface SandboxServicesView {
  sandboxId: string;
  /** The extension's answer just now, or null when there is nothing to ask about (not created yet, destroyed, in flight). */
  health: SandboxHealth | null;
  detail: string;
  /** Per service, for extensions that report them (ext.compose-ssh); null for the others. */
  services: ServiceReport[] | null;
  checkedAt: string;
}

// Statuses whose handle names something that should exist on a host.
const ASKABLE = new Set(["ready", "missing", "destroy_failed"]);
const STATUS_TIMEOUT_MS = 20_000;

export async function sandboxServices(
  manager: Pick<Manager, "requireSandbox" | "extension">,
  id: string,
  signal?: AbortSignal,
): Promise<SandboxServicesView> {
  const sandbox = await manager.requireSandbox(id);
  const checkedAt = new Date().toISOString();
  const none = (detail: string): SandboxServicesView => ({ sandboxId: id, health: null, detail, services: null, checkedAt });
  if (!ASKABLE.has(sandbox.status) || sandbox.handle === null) return none(`Sandbox ${id} is ${sandbox.status}: nothing to ask its host`);
  const extension = manager.extension(sandbox.extensionId);
  if (!extension) return none(`Extension ${sandbox.extensionId} is not loaded on this server`);
  const handle = extension.handleSchema.safeParse(sandbox.handle);
  if (!handle.success) return none(`The stored handle no longer matches ${extension.id}'s schema`);
  const limit = AbortSignal.timeout(STATUS_TIMEOUT_MS);
  try {
    const report = await extension.status(handle.data, {
      sandboxId: id,
      signal: signal ? AbortSignal.any([signal, limit]) : limit,
      log: () => {},
    });
    return { sandboxId: id, health: report.state, detail: report.detail, services: report.services ?? null, checkedAt };
  } catch (e) {
    return {
      sandboxId: id,
      health: "unknown",
      detail: limit.aborted ? `no answer within ${STATUS_TIMEOUT_MS / 1000} s` : failureMessage(e),
      services: null,
      checkedAt,
    };
  }
}
