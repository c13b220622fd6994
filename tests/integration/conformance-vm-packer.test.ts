// ext.vm-packer against the Extension SDK conformance suite, on a real OpenSSH build VM (loopback),
// real rsync and git. `exists` looks at the VM's file system directly, never through the extension.
import fs from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, expect } from "vitest";

import { createSshServices } from "@/lib/hosts/ssh-services";
import type { ExtensionManifest } from "@/lib/extensions/manifest";
import { describeConformance } from "@/lib/extensions/testing/conformance";
import { VmPackerExtension, type VmPackerHandle, type VmPackerParams } from "@/lib/extensions/vm-packer/extension";
import { SshPool } from "@/lib/ssh";

import { startBuildVms, stopBuildVms, type BuildVms } from "../support/build-vms";
import { createTestDatabase, type TestDatabase } from "../support/databases";
import { numberedTree } from "../support/trees";

const MANIFEST: ExtensionManifest = {
  apiVersion: "sandboxer.dev/v1",
  id: "ext.vm-packer",
  title: "Build VM workspace (attach)",
  description: "",
  implementation: "vm-packer",
  version: "1.0.0",
  defaults: { workspaceRoot: null, repository: null, syncTimeoutSeconds: 1800 },
  source: "extensions/ext.vm-packer.yaml",
};

let vms: BuildVms;
let database: TestDatabase;
let pool: SshPool;
let small: string;
let big: string;

const tree = (files: number): string => numberedTree(files, { dirs: 100, prefix: "conformance-vm-tree-" });

beforeAll(async () => {
  vms = await startBuildVms({ vms: [{ name: "conf1", address: "127.0.0.1" }] });
  database = await createTestDatabase("sqlite");
  pool = new SshPool({ readyTimeoutMs: 5_000 });
  small = tree(50);
  // Large enough that rsync is still copying seconds after the workspace exists (the abort tests).
  big = tree(30_000);
}, 120_000);

afterAll(async () => {
  pool?.close();
  await stopBuildVms(vms);
  await database?.drop();
  for (const d of [small, big]) if (d) fs.rmSync(d, { recursive: true, force: true });
});

describeConformance<VmPackerParams, VmPackerHandle>(
  "ext.vm-packer (rsync of a checkout, over a pinned key)",
  async () => {
    const vm = vms.vm("conf1");
    const ssh = createSshServices({ db: database.db, hosts: [], defaultIdentity: vms.identityFile, readyTimeoutMs: 5_000, pool });
    return {
      extension: new VmPackerExtension({ manifest: MANIFEST, services: { localWorkspaceRoot: "/nonexistent", ssh } }),
      params: { ...MANIFEST.defaults, host: "conf1", repository: { path: small } },
      host: {
        id: "conf1",
        title: "conf1",
        address: vm.host,
        port: vm.port,
        user: vm.user,
        hostKey: vm.hostKeyFingerprint,
        workspaceRoot: vm.workspaceRoot,
        labels: [],
      },
      exists: async (h) => fs.existsSync(h.workspace_path) || fs.lstatSync(h.workspace_path, { throwIfNoEntry: false }) !== undefined,
      teardownNames: (h) => [h.workspace_path],
      async verifyCreated(h) {
        expect(fs.readFileSync(path.join(h.workspace_path, "d7", "f7"), "utf8")).toBe("7\n");
      },
      makeSlow: (p) => ({ ...p, repository: { path: big } }),
      makeFailing: (p) => ({ ...p, repository: { path: path.join(small, "no-such-dir") } }),
      makeUnmet: (p) => ({ ...p, workspaceRoot: "/nonexistent-build-root" }),
    };
  },
  { slow: true, failing: true, unmet: true },
);
