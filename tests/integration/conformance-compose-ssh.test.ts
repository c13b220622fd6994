// ext.compose-ssh against the Extension SDK conformance suite, over real OpenSSH (a loopback build VM)
// with a STAND-IN docker first on the build user's PATH (tests/support/stand-in-docker.ts): no Docker
// engine runs here. `exists` never asks the extension: it looks at the VM's file system and at the
// stand-in's own record of the project.
import fs from "node:fs";
import path from "node:path";

import { afterAll, beforeAll, expect } from "vitest";

import { ComposeSshExtension, type ComposeSshHandle, type ComposeSshParams } from "@/lib/extensions/compose-ssh/extension";
import { parseManifestFile } from "@/lib/extensions/manifest";
import { describeConformance } from "@/lib/extensions/testing/conformance";
import { createSshServices } from "@/lib/hosts/ssh-services";
import { SshPool } from "@/lib/ssh";

import { startBuildVms, stopBuildVms, type BuildVms } from "../support/build-vms";
import { createTestDatabase, type TestDatabase } from "../support/databases";
import { createStandInDocker, type StandInDocker } from "../support/stand-in-docker";

const COMPOSE = `services:
  web:
    image: traefik/whoami:v1.10
    ports:
      - "\${WEB_PORT:-8080}:80"
  redis:
    image: redis:7-alpine
`;

let docker: StandInDocker;
let vms: BuildVms;
let database: TestDatabase;
let pool: SshPool;

beforeAll(async () => {
  docker = await createStandInDocker();
  vms = await startBuildVms({ vms: [{ name: "compose1", address: "127.0.0.1", sshdOptions: docker.sshdOptions }] });
  database = await createTestDatabase("sqlite");
  pool = new SshPool({ readyTimeoutMs: 5_000 });
}, 120_000);

afterAll(async () => {
  pool?.close();
  await stopBuildVms(vms);
  await database?.drop();
  docker?.remove();
});

describeConformance<ComposeSshParams, ComposeSshHandle>(
  "ext.compose-ssh (inline compose file, stand-in docker over a pinned key)",
  async () => {
    const vm = vms.vm("compose1");
    const manifest = parseManifestFile(path.resolve("extensions/ext.compose-ssh.yaml"), path.resolve("."));
    const ssh = createSshServices({ db: database.db, hosts: [], defaultIdentity: vms.identityFile, readyTimeoutMs: 5_000, pool });
    const withCompose = (p: Record<string, unknown>, extra: string) => ({
      ...p,
      composeFiles: [{ name: "compose.yaml", content: `${extra}${COMPOSE}` }],
    });
    return {
      extension: new ComposeSshExtension({ manifest, services: { localWorkspaceRoot: "/nonexistent", ssh } }),
      params: {
        ...manifest.defaults,
        host: "compose1",
        composeFiles: [{ name: "compose.yaml", content: COMPOSE }],
        env: { WEB_PORT: "18080" },
      },
      host: {
        id: "compose1",
        title: "compose1",
        address: vm.host,
        port: vm.port,
        user: vm.user,
        hostKey: vm.hostKeyFingerprint,
        workspaceRoot: vm.workspaceRoot,
        labels: [],
      },
      exists: async (h) =>
        fs.lstatSync(h.workspace_path, { throwIfNoEntry: false }) !== undefined || docker.project(h.compose_project) !== null,
      teardownNames: (h) => [h.workspace_path, h.compose_project],
      async verifyCreated(h) {
        expect(fs.readFileSync(path.join(h.workspace_path, "compose.yaml"), "utf8")).toBe(COMPOSE);
        const project = docker.project(h.compose_project);
        expect(project?.state).toBe("running");
        expect(project?.workingDir).toBe(h.workspace_path);
        expect(project?.services.map((s) => s.name)).toEqual(["redis", "web"]);
        expect(project?.services.find((s) => s.name === "web")?.publishers).toEqual([
          { URL: "0.0.0.0", TargetPort: 80, PublishedPort: 18080, Protocol: "tcp" },
        ]);
        expect(h.compose_services).toEqual(["redis", "web"]);
      },
      // The stand-in's `up` keeps its containers "created" for 20 s before it reports them running.
      makeSlow: (p) => withCompose(p, "x-stand-in-up-seconds: 20\n"),
      // …or fails after creating them, like a pull that was denied.
      makeFailing: (p) => withCompose(p, "x-stand-in-fail-up: pull access denied for stand-in/missing\n"),
      makeUnmet: (p) => ({ ...p, workspaceRoot: "/nonexistent-build-root" }),
    };
  },
  { slow: true, failing: true, unmet: true },
);
