// A manager wired to real build VMs: sshd processes on loopback (the standard pair is 127.0.0.1:12222,
// the reverse-tunnel case, and 127.0.0.2:2222; other ports when those are taken by a parallel run),
// registered as hosts the way hosts.yaml would register them, with the client key as identity.
import net from "node:net";

import type { ExtensionClass } from "@/lib/extensions/base";
import { hostEntrySchema, type HostEntry } from "@/lib/hosts/hosts-file";
import { syncHosts } from "@/lib/hosts/host-sync";
import { createSshServices } from "@/lib/hosts/ssh-services";
import type { ManagerConfig } from "@/lib/manager/manager";
import { SshPool } from "@/lib/ssh";

import { hostFieldsFor, startBuildVms, type BuildVm, type BuildVms } from "./build-vms";
import type { TestProvider } from "./databases";
import { createTestManager, type TestManager } from "./manager-harness";

async function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

/** The two standard VMs; falls back to free ports when the standard ones are taken. */
export async function startStandardVms(): Promise<BuildVms> {
  const want = [
    { name: "vm1", address: "127.0.0.1", port: 12222 },
    { name: "vm2", address: "127.0.0.2", port: 2222 },
  ];
  const specs = [];
  for (const w of want) specs.push((await portFree(w.address, w.port)) ? w : { name: w.name, address: w.address });
  try {
    return await startBuildVms({ vms: specs });
  } catch (e) {
    // A parallel run took a standard port between our check and sshd's bind: use free ports.
    if (!specs.some((s) => "port" in s)) throw e;
    return startBuildVms({ vms: want.map((w) => ({ name: w.name, address: w.address })) });
  }
}

/** A VM's hosts.yaml entry (id host-<name>, label test-vm, capacity 60 unless `extra` says otherwise), parsed as the app parses it. */
export function hostEntryFor(vm: BuildVm, extra: Partial<HostEntry> = {}): HostEntry {
  return hostEntrySchema.parse(hostFieldsFor(vm, extra));
}

export interface VmTestManager extends TestManager {
  vms: BuildVms;
  pool: SshPool;
  hosts: HostEntry[];
}

export async function createVmTestManager(
  provider: TestProvider,
  vms: BuildVms,
  opts: {
    profiles?: Record<string, Record<string, unknown>>;
    config?: Partial<ManagerConfig>;
    hosts?: HostEntry[];
    extra?: Record<string, ExtensionClass>;
    manifests?: Record<string, unknown>[];
    /** SSH handshake deadline (default 5 s). */
    readyTimeoutMs?: number;
  } = {},
): Promise<VmTestManager> {
  const hosts = opts.hosts ?? vms.vms.map((vm) => hostEntryFor(vm));
  const readyTimeoutMs = opts.readyTimeoutMs ?? 5_000;
  const pool = new SshPool({ readyTimeoutMs });
  let dbRef: TestManager["db"] | null = null;
  const ssh = createSshServices({
    db: new Proxy({} as TestManager["db"], { get: (_t, k) => (dbRef as unknown as Record<PropertyKey, unknown>)[k] }),
    hosts,
    defaultIdentity: vms.identityFile,
    readyTimeoutMs,
    pool,
  });
  const t = await createTestManager(provider, {
    profiles: opts.profiles,
    config: opts.config,
    includeRepoManifests: true,
    manifests: opts.manifests ?? [],
    extra: opts.extra,
    services: { ssh },
  });
  dbRef = t.db;
  await syncHosts(t.db, hosts, { low: 12200, high: 12999 });
  const close = t.close;
  return {
    ...t,
    vms,
    pool,
    hosts,
    async close() {
      await close();
      pool.close();
    },
  };
}
