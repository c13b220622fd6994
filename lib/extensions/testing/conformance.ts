// The Extension SDK's conformance suite: one set of vitest tests that any extension runs against itself
// to show it keeps the contract the manager relies on (lib/extensions/base.ts, docs/extension-sdk.md):
// the handle is recorded before any side effect, destroy works from any recorded handle and is
// idempotent, the abort signal is honoured, handles survive the database's JSON, and so on.
//
// TEST-ONLY. This module imports vitest: production code (app/, cli/, lib/ outside tests, scripts/) must
// never import it. It lives beside the SDK so every extension's tests share one definition.
//
// Use it from an integration test, tests/integration/conformance-<name>.test.ts:
//
//   describeConformance(
//     "ext.local (copy seed)",
//     async () => ({
//       extension: new LocalExtension({ manifest, services }), // or catalog.extensions.get(id)
//       params: { root, seed: { path: seedDir } },             // as a profile gives them (defaults merged)
//       exists: async (h) => fs.existsSync(h.workspace_path),  // checked from OUTSIDE the extension
//       teardownNames: (h) => [h.workspace_path],              // what describeHandle must name
//       makeSlow: (p) => ({ ...p, seed: { path: bigDir } }),   // optional: see ConformanceFeatures
//       makeFailing: (p) => ({ ...p, seed: { path: "/nonexistent" } }),
//       cleanup: async () => fs.rmSync(tmp, { recursive: true, force: true }),
//     }),
//     { slow: true, failing: true },
//   );
//
// `exists` must not ask the extension: for ext.local it is a file-system check, for an SSH extension a
// `test -e` over the test's own connection to the build VM, for ext.fake a look into its world. The
// suite hands status/destroy only handles that went through a JSON round trip and `handleSchema`, as
// the manager does with the handle it stored; create gets params parsed by `paramsSchema`.
import "server-only";

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { AbortedError, isSandboxerError, type SandboxerError } from "../../errors";
import { newSandboxId } from "../../sandbox-id";
import type { HostTarget, OperationContext, SandboxExtension } from "../base";

type RawParams = Record<string, unknown>;

export interface ConformanceTarget<P, H extends { extension: string }> {
  extension: SandboxExtension<P, H>;
  /** Params as a profile gives them (the manifest's defaults merged); the suite parses them. */
  params: RawParams;
  /** The build host, for extensions whose `hostRequirement` asks for one. */
  host?: HostTarget | null;
  /** Whether anything the handle names exists, checked without the extension. */
  exists(handle: H): Promise<boolean>;
  /** Names (paths, project names) the teardown lines of `describeHandle` must mention. */
  teardownNames(handle: H): string[];
  /** Extension-specific checks of a finished create (e.g. the seed's files are in the workspace). */
  verifyCreated?(handle: H): Promise<void>;
  /** Params whose create keeps running for seconds AFTER `exists` turns true (feature `slow`). */
  makeSlow?(params: RawParams): RawParams;
  /** Params whose create fails with a typed error AFTER a side effect (feature `failing`). */
  makeFailing?(params: RawParams): RawParams;
  /** Params for which `check()` reports at least one unmet requirement (feature `unmet`). */
  makeUnmet?(params: RawParams): RawParams;
  /** How soon after an abort create must settle; default 5 s. */
  abortWithinMs?: number;
  cleanup?(): Promise<void>;
}

/**
 * The optional hooks the target provides. Vitest collects tests before `setup` runs, so the tests that
 * need a hook are declared from these flags; a flag without its hook (or a hook without its flag)
 * fails the suite rather than silently testing less.
 */
export interface ConformanceFeatures {
  slow?: boolean;
  failing?: boolean;
  unmet?: boolean;
}

const DEFAULT_ABORT_WITHIN_MS = 5_000;
/** How long the first recordHandle holds create: an extension that does not await it acts meanwhile. */
const RECORD_HOLD_MS = 50;
/** Bound for a create to finish in after-test cleanup (a hung create must not hang the whole file). */
const CLEANUP_SETTLE_MS = 30_000;

type Settled<T> =
  | { state: "resolved"; value: T; ms: number }
  | { state: "rejected"; error: unknown; ms: number }
  | { state: "pending"; ms: number };

/** Waits for `p` at most `ms`; `since` is when the clock started (e.g. the moment of an abort). */
async function settleWithin<T>(p: Promise<T>, ms: number, since = Date.now()): Promise<Settled<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), Math.max(0, since + ms - Date.now()));
  });
  try {
    const outcome = await Promise.race([
      p.then(
        (value) => ({ state: "resolved" as const, value }),
        (error: unknown) => ({ state: "rejected" as const, error }),
      ),
      timeout,
    ]);
    const elapsed = Date.now() - since;
    return outcome === "timeout" ? { state: "pending", ms: elapsed } : { ...outcome, ms: elapsed };
  } finally {
    clearTimeout(timer);
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function describeOutcome(s: Settled<unknown>): string {
  if (s.state === "pending") return `still running after ${s.ms} ms`;
  if (s.state === "resolved") return `resolved after ${s.ms} ms`;
  return `rejected after ${s.ms} ms: ${(s.error as Error)?.message ?? String(s.error)}`;
}

interface CreateRun<H> {
  sandboxId: string;
  controller: AbortController;
  /** Copies of every handle passed to recordHandle, in order (the extension may mutate its own). */
  recorded: H[];
  logs: string[];
  promise: Promise<H>;
}

/**
 * Declares the conformance tests for one extension target. `setup` runs once before them (start build
 * VMs, make temp roots, construct the extension); `cleanup` of the target runs after them.
 */
export function describeConformance<P, H extends { extension: string }>(
  name: string,
  setup: () => Promise<ConformanceTarget<P, H>>,
  features: ConformanceFeatures = {},
): void {
  describe(`conformance: ${name}`, () => {
    let t: ConformanceTarget<P, H>;
    let runs: CreateRun<H>[] = [];

    beforeAll(async () => {
      t = await setup();
    });

    afterAll(async () => {
      await t?.cleanup?.();
    });

    // Whatever a test created (or half-created) is removed with its last recorded handle, the way the
    // manager cleans up, so one failing test does not leave resources for the next to trip over.
    afterEach(async () => {
      const pending = runs;
      runs = [];
      for (const run of pending) {
        run.controller.abort(new AbortedError("conformance: test finished"));
        await settleWithin(run.promise, CLEANUP_SETTLE_MS);
        const last = run.recorded.at(-1);
        if (!last) continue;
        try {
          await t.extension.destroy(stored(last), opCtx(run.sandboxId));
        } catch {
          /* the test itself reports what went wrong */
        }
      }
    });

    const ext = () => t.extension;
    const abortBound = () => t.abortWithinMs ?? DEFAULT_ABORT_WITHIN_MS;

    /** What the manager would hand back: the handle after the database's JSON and the handle schema. */
    function stored(handle: H): H {
      return ext().handleSchema.parse(JSON.parse(JSON.stringify(handle)));
    }

    function opCtx(sandboxId: string, signal: AbortSignal = new AbortController().signal, logs: string[] = []): OperationContext {
      return { sandboxId, signal, log: (line) => logs.push(line) };
    }

    function parseParams(raw: RawParams): P {
      const result = ext().paramsSchema.safeParse(raw);
      if (!result.success) throw new Error(`the target's params are not valid for ${ext().id}: ${result.error.message}`);
      return result.data;
    }

    function startCreate(
      raw: RawParams,
      opts: { onRecord?: (handle: H, index: number, run: CreateRun<H>) => Promise<void> | void; abortFirst?: boolean } = {},
    ): CreateRun<H> {
      const params = parseParams(raw);
      const controller = new AbortController();
      if (opts.abortFirst) controller.abort(new AbortedError("conformance: aborted before create"));
      const run: CreateRun<H> = { sandboxId: newSandboxId(), controller, recorded: [], logs: [], promise: Promise.resolve(null as never) };
      runs.push(run);
      const recordHandle = async (handle: H) => {
        run.recorded.push(structuredClone(handle));
        await opts.onRecord?.(run.recorded.at(-1)!, run.recorded.length - 1, run);
      };
      run.promise = Promise.resolve().then(() =>
        ext().create({
          sandboxId: run.sandboxId,
          params,
          host: t.host ?? null,
          signal: controller.signal,
          log: (line) => run.logs.push(line),
          recordHandle,
        }),
      );
      // Observed through settleWithin; without this a rejection would be reported as unhandled first.
      run.promise.catch(() => {});
      return run;
    }

    async function createReady(raw: RawParams = t.params): Promise<{ run: CreateRun<H>; handle: H }> {
      const run = startCreate(raw);
      const handle = await run.promise;
      return { run, handle: stored(handle) };
    }

    async function expectNothingLeft(handles: H[]): Promise<void> {
      for (const h of handles) expect(await t.exists(stored(h)), `still exists: ${JSON.stringify(h)}`).toBe(false);
    }

    it("declares every optional hook it provides, and provides every hook it declares", () => {
      const provided = { slow: !!t.makeSlow, failing: !!t.makeFailing, unmet: !!t.makeUnmet };
      const declared = { slow: !!features.slow, failing: !!features.failing, unmet: !!features.unmet };
      expect(declared).toEqual(provided);
      if (ext().hostRequirement(parseParams(t.params)))
        expect(t.host, "the extension asks for a host: the target must give one").toBeTruthy();
    });

    it("accepts the profile's params and refuses unknown keys (strict params schema)", () => {
      expect(ext().paramsSchema.safeParse(t.params).success).toBe(true);
      const typo = ext().paramsSchema.safeParse({ ...t.params, conformanceTypo: true });
      expect(typo.success, "an unknown param must be an error, not silently ignored").toBe(false);
    });

    it("create records the handle before any side effect, and returns a valid final handle", async () => {
      const seen: { before: boolean; afterHold: boolean }[] = [];
      const run = startCreate(t.params, {
        async onRecord(handle, index) {
          if (index > 0) return;
          const before = await t.exists(stored(handle));
          // create must await recordHandle: holding it here catches one that acts without waiting.
          await sleep(RECORD_HOLD_MS);
          seen.push({ before, afterHold: await t.exists(stored(handle)) });
        },
      });
      const final = await run.promise;
      expect(run.recorded.length, "create never called recordHandle").toBeGreaterThan(0);
      expect(seen).toEqual([{ before: false, afterHold: false }]);
      for (const h of run.recorded) expect(ext().handleSchema.safeParse(h).success, `recorded handle ${JSON.stringify(h)}`).toBe(true);
      const parsed = ext().handleSchema.safeParse(final);
      expect(parsed.success, `final handle ${JSON.stringify(final)}`).toBe(true);
      expect(final.extension).toBe(ext().id);
      expect(run.logs.length, "create should log its progress with ctx.log").toBeGreaterThan(0);
    });

    it("create stops before any side effect when recordHandle fails (a lost lease)", async () => {
      const run = startCreate(t.params, {
        onRecord() {
          throw new Error("conformance: the handle could not be stored");
        },
      });
      const outcome = await settleWithin(run.promise, abortBound());
      expect(outcome.state, describeOutcome(outcome)).toBe("rejected");
      expect(run.recorded.length).toBe(1);
      await expectNothingLeft(run.recorded);
      // A handle recorded before anything happened still destroys cleanly: nothing there is success.
      const res = await ext().destroy(stored(run.recorded[0]!), opCtx(run.sandboxId));
      expect(res.result).toBe("absent");
    });

    it("after create, status is ready and the resource exists", async () => {
      const { run, handle } = await createReady();
      expect(await t.exists(handle)).toBe(true);
      const status = await ext().status(handle, opCtx(run.sandboxId));
      expect(status.state, status.detail).toBe("ready");
      expect(typeof status.detail).toBe("string");
      await t.verifyCreated?.(handle);
    });

    it("destroy removes it and returns removed; destroying again returns absent without throwing", async () => {
      const { run, handle } = await createReady();
      const logs: string[] = [];
      const first = await ext().destroy(handle, opCtx(run.sandboxId, undefined, logs));
      expect(first.result, first.detail).toBe("removed");
      expect(await t.exists(handle)).toBe(false);
      for (let i = 0; i < 2; i++) {
        const again = await ext().destroy(handle, opCtx(run.sandboxId));
        expect(again.result, again.detail).toBe("absent");
        expect(again.detail.length).toBeGreaterThan(0);
      }
    });

    it("status after destroy is missing", async () => {
      const { run, handle } = await createReady();
      await ext().destroy(handle, opCtx(run.sandboxId));
      const status = await ext().status(handle, opCtx(run.sandboxId));
      expect(status.state, status.detail).toBe("missing");
    });

    it("destroy leaves a sibling sandbox untouched", async () => {
      const a = await createReady();
      const b = await createReady();
      await ext().destroy(a.handle, opCtx(a.run.sandboxId));
      expect(await t.exists(a.handle)).toBe(false);
      expect(await t.exists(b.handle)).toBe(true);
      expect((await ext().status(b.handle, opCtx(b.run.sandboxId))).state).toBe("ready");
      await t.verifyCreated?.(b.handle);
    });

    it("destroy with only the first recorded handle removes a complete sandbox", async () => {
      const { run } = await createReady();
      const first = stored(run.recorded[0]!);
      const res = await ext().destroy(first, opCtx(run.sandboxId));
      expect(res.result, res.detail).toBe("removed");
      await expectNothingLeft(run.recorded);
    });

    it("create with an already-aborted signal rejects promptly and leaves nothing once destroy runs", async () => {
      const run = startCreate(t.params, { abortFirst: true });
      const outcome = await settleWithin(run.promise, abortBound());
      expect(outcome.state, describeOutcome(outcome)).toBe("rejected");
      const last = run.recorded.at(-1);
      if (last) {
        const res = await ext().destroy(stored(last), opCtx(run.sandboxId));
        expect(["removed", "absent"]).toContain(res.result);
      }
      await expectNothingLeft(run.recorded);
    });

    it("create aborted right after its first recordHandle rejects promptly and leaves nothing once destroy runs", async () => {
      let abortedAt = 0;
      const run = startCreate(t.params, {
        onRecord(_handle, index, self) {
          if (index > 0) return;
          abortedAt = Date.now();
          self.controller.abort(new AbortedError("conformance: aborted during create"));
        },
      });
      const outcome = await settleWithin(run.promise, abortBound() + 60_000);
      expect(outcome.state, describeOutcome(outcome)).toBe("rejected");
      expect(Date.now() - abortedAt, "create did not stop promptly after the abort").toBeLessThanOrEqual(abortBound());
      const res = await ext().destroy(stored(run.recorded.at(-1)!), opCtx(run.sandboxId));
      expect(["removed", "absent"]).toContain(res.result);
      await expectNothingLeft(run.recorded);
    });

    if (features.slow) {
      for (const which of ["first", "last"] as const) {
        it(`create aborted part-way rejects promptly; destroy with the ${which} recorded handle leaves nothing`, async () => {
          const run = startCreate(t.makeSlow!(t.params));
          // Wait until create has really done something, then give it a moment to be in the middle.
          const deadline = Date.now() + 30_000;
          let seenCreated = false;
          while (Date.now() < deadline) {
            const h = run.recorded[0];
            if (h && (await t.exists(stored(h)))) {
              seenCreated = true;
              break;
            }
            const early = await settleWithin(run.promise, 10);
            if (early.state !== "pending") break;
          }
          expect(seenCreated, "the slow create never showed a resource through exists()").toBe(true);
          await sleep(25);
          const abortedAt = Date.now();
          run.controller.abort(new AbortedError("conformance: aborted part-way"));
          const outcome = await settleWithin(run.promise, abortBound(), abortedAt);
          expect(outcome.state, `create after the abort: ${describeOutcome(outcome)} (bound ${abortBound()} ms)`).toBe("rejected");
          const handle = which === "first" ? run.recorded[0]! : run.recorded.at(-1)!;
          expect(await t.exists(stored(handle)), "a half-created sandbox should still be there before destroy").toBe(true);
          const res = await ext().destroy(stored(handle), opCtx(run.sandboxId));
          expect(res.result, res.detail).toBe("removed");
          await expectNothingLeft(run.recorded);
        });
      }
    }

    if (features.failing) {
      it("a create failing part-way rejects with a typed error; destroy with the last recorded handle leaves nothing", async () => {
        const run = startCreate(t.makeFailing!(t.params));
        const outcome = await settleWithin(run.promise, 60_000);
        expect(outcome.state, describeOutcome(outcome)).toBe("rejected");
        const error = outcome.state === "rejected" ? outcome.error : null;
        expect(isSandboxerError(error), `errors a person sees must be SandboxerErrors with a stable code, not ${String(error)}`).toBe(true);
        expect((error as SandboxerError).code).toMatch(/^[A-Z][A-Z0-9_]+$/);
        const last = run.recorded.at(-1);
        expect(last, "the failing create recorded no handle").toBeDefined();
        expect(await t.exists(stored(last!)), "makeFailing must fail AFTER a side effect").toBe(true);
        const res = await ext().destroy(stored(last!), opCtx(run.sandboxId));
        expect(res.result, res.detail).toBe("removed");
        await expectNothingLeft(run.recorded);
      });
    }

    it("describeHandle names what destroy removes, for the final and the first recorded handle", async () => {
      const { run, handle } = await createReady();
      for (const h of [handle, stored(run.recorded[0]!)]) {
        const summary = ext().describeHandle(h);
        expect(summary.target.length).toBeGreaterThan(0);
        expect(summary.teardown.length, "teardown must list what destroy removes").toBeGreaterThan(0);
        for (const name of t.teardownNames(h)) {
          expect(
            summary.teardown.some((line) => line.includes(name)),
            `no teardown line names ${name}: ${summary.teardown.join(" | ")}`,
          ).toBe(true);
        }
      }
    });

    it("check() returns requirements with a name, met and a reason, all met for the target's params", async () => {
      const reqs = await ext().check({ params: parseParams(t.params), host: t.host ?? null, signal: new AbortController().signal });
      expect(reqs.length).toBeGreaterThan(0);
      for (const r of reqs) {
        expect(r).toEqual({ name: expect.any(String), met: expect.any(Boolean), reason: expect.any(String) });
        expect(r.name.length).toBeGreaterThan(0);
        expect(r.reason.length).toBeGreaterThan(0);
      }
      expect(reqs.filter((r) => !r.met)).toEqual([]);
    });

    if (features.unmet) {
      it("check() reports an unmet requirement with a reason", async () => {
        const reqs = await ext().check({
          params: parseParams(t.makeUnmet!(t.params)),
          host: t.host ?? null,
          signal: new AbortController().signal,
        });
        const unmet = reqs.filter((r) => !r.met);
        expect(unmet.length).toBeGreaterThan(0);
        for (const r of unmet) expect(r.reason.length).toBeGreaterThan(0);
      });
    }

    it("handles are JSON-serialisable: every recorded and the final handle survives a round trip and still validates", async () => {
      const { run } = await createReady();
      const final = await run.promise;
      for (const h of [...run.recorded, final]) {
        const trip: unknown = JSON.parse(JSON.stringify(h));
        expect(trip).toEqual(h);
        // The manager stores what handleSchema returns: a field the schema does not know would be lost.
        expect(ext().handleSchema.parse(trip)).toEqual(trip);
      }
    });
  });
}
