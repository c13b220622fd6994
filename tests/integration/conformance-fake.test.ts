// ext.fake against the Extension SDK conformance suite: the manager's tests script their extension with
// it, so it must keep the same contract as a real one. `exists` looks into the fake's world directly.
import { FakeExtension, fakeWorld, type FakeHandle } from "@/lib/extensions/fake/extension";
import type { ExtensionManifest } from "@/lib/extensions/manifest";
import { describeConformance } from "@/lib/extensions/testing/conformance";

const MANIFEST: ExtensionManifest = {
  apiVersion: "sandboxer.dev/v1",
  id: "ext.fake",
  title: "Fake (tests only)",
  description: "",
  implementation: "fake",
  version: "1.0.0",
  defaults: { steps: 2 },
  source: "extensions/ext.fake.yaml",
};

describeConformance(
  "ext.fake",
  async () => {
    fakeWorld.reset();
    return {
      extension: new FakeExtension({ manifest: MANIFEST, services: { localWorkspaceRoot: "/nonexistent" } }),
      params: { steps: 2, stepMs: 5 },
      exists: async (h: FakeHandle) => fakeWorld.resources.has(h.resource),
      teardownNames: (h: FakeHandle) => [h.resource],
      makeSlow: (p) => ({ ...p, steps: 100, stepMs: 100 }),
      makeFailing: (p) => ({ ...p, steps: 3, failAtStep: 2, failMessage: "conformance: scripted failure" }),
      abortWithinMs: 1_000,
      cleanup: async () => fakeWorld.reset(),
    };
  },
  { slow: true, failing: true },
);
