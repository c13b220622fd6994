// ext.fake — TEST ONLY. A scripted extension for manager and UI tests (in the spirit of coder's echo
// provisioner): the profile's params say how long each step takes, where it fails, whether it hangs.
// Its "resources" live in an in-memory world the test inspects. The production registry never lists
// it; tests register it with createRegistry({ extra: { fake: FakeExtension } }).
import "server-only";

import { z } from "zod";

import { AbortedError, SandboxerError, throwIfAborted } from "../../errors";
import {
  SandboxExtension,
  type CheckContext,
  type CreateContext,
  type DestroyResult,
  type HandleSummary,
  type HostRequirement,
  type OperationContext,
  type Requirement,
  type StatusReport,
} from "../base";

export const fakeParamsSchema = z.strictObject({
  /** Milliseconds each of `steps` create steps takes. */
  stepMs: z.number().int().min(0).max(600_000).default(0),
  steps: z.number().int().min(1).max(100).default(2),
  /** Fail create at this step (1-based), after the handle was recorded. */
  failAtStep: z.number().int().min(1).nullable().default(null),
  /** Fail create before recording the handle (nothing created). */
  failBeforeHandle: z.boolean().default(false),
  failMessage: z.string().default("scripted failure"),
  /** Ignore the abort signal while creating (a misbehaving extension; the manager's timeout must still win). */
  ignoreAbort: z.boolean().default(false),
  /** Stopped by its signal, a step rejects with an error of its own (as an SSH command does) instead of the signal's reason. */
  abortsWithOwnError: z.boolean().default(false),
  /** Destroy fails this many times before it succeeds. */
  destroyFailures: z.number().int().min(0).default(0),
  destroyMs: z.number().int().min(0).default(0),
  /** Record the handle after every step too (false: only before the first, so the handle returned differs from it). */
  recordSteps: z.boolean().default(true),
  /** Ask the host registry for a host (to test capacity and health). */
  host: z.string().nullable().default(null),
  hostLabel: z.string().nullable().default(null),
  /** A profile input lands here in tests of inputs. */
  ref: z
    .string()
    .regex(/^[a-z0-9-]+$/)
    .default("main"),
});
export type FakeParams = z.infer<typeof fakeParamsSchema>;

export const fakeHandleSchema = z.strictObject({
  extension: z.string(),
  resource: z.string(),
  stepsDone: z.number().int(),
  host: z.string().nullable().optional(),
  destroyMs: z.number().int().optional(),
});
export type FakeHandle = z.infer<typeof fakeHandleSchema>;

/** The fake's world: which resources exist, and every call made (tests assert on both). */
export class FakeWorld {
  readonly resources = new Set<string>();
  readonly calls: { op: "create" | "destroy" | "status"; sandboxId: string; at: number }[] = [];
  destroyFailuresLeft = new Map<string, number>();

  reset(): void {
    this.resources.clear();
    this.calls.length = 0;
    this.destroyFailuresLeft.clear();
  }

  count(op: "create" | "destroy" | "status", sandboxId?: string): number {
    return this.calls.filter((c) => c.op === op && (sandboxId === undefined || c.sandboxId === sandboxId)).length;
  }
}

export const fakeWorld = new FakeWorld();

/** Thrown by ext.fake when its script says so. */
export class FakeFailure extends SandboxerError {
  constructor(message: string) {
    super("FAKE_FAILURE", message);
  }
}

function sleep(ms: number, signal: AbortSignal | null, ownError = false): Promise<void> {
  const stopped = () => (ownError ? new AbortedError("the fake step was cancelled") : (signal?.reason ?? new AbortedError()));
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(stopped());
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(stopped());
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export class FakeExtension extends SandboxExtension<FakeParams, FakeHandle> {
  readonly paramsSchema = fakeParamsSchema;
  readonly handleSchema = fakeHandleSchema;
  world: FakeWorld = fakeWorld;

  override hostRequirement(params: FakeParams): HostRequirement | null {
    if (params.host) return { hostId: params.host };
    if (params.hostLabel) return { label: params.hostLabel };
    return null;
  }

  async check(_ctx: CheckContext<FakeParams>): Promise<Requirement[]> {
    return [{ name: "fake world", met: true, reason: "always reachable" }];
  }

  async create(ctx: CreateContext<FakeParams, FakeHandle>): Promise<FakeHandle> {
    this.world.calls.push({ op: "create", sandboxId: ctx.sandboxId, at: Date.now() });
    const p = ctx.params;
    if (p.failBeforeHandle) throw new FakeFailure(p.failMessage);
    const resource = `fake-${ctx.sandboxId}`;
    const handle: FakeHandle = {
      extension: this.id,
      resource,
      stepsDone: 0,
      host: ctx.host?.id ?? null,
      destroyMs: p.destroyMs || undefined,
    };
    await ctx.recordHandle(handle);
    this.world.resources.add(resource);
    if (p.destroyFailures > 0) this.world.destroyFailuresLeft.set(resource, p.destroyFailures);
    for (let step = 1; step <= p.steps; step++) {
      if (!p.ignoreAbort) throwIfAborted(ctx.signal);
      ctx.log(`step ${step}/${p.steps}`);
      if (p.stepMs > 0) await sleep(p.stepMs, p.ignoreAbort ? null : ctx.signal, p.abortsWithOwnError);
      if (p.failAtStep === step) throw new FakeFailure(p.failMessage);
      handle.stepsDone = step;
      if (p.recordSteps) await ctx.recordHandle({ ...handle });
    }
    return { ...handle };
  }

  async status(handle: FakeHandle, ctx: OperationContext): Promise<StatusReport> {
    this.world.calls.push({ op: "status", sandboxId: ctx.sandboxId, at: Date.now() });
    return this.world.resources.has(handle.resource)
      ? { state: "ready", detail: `${handle.resource} exists` }
      : { state: "missing", detail: `${handle.resource} does not exist` };
  }

  async destroy(handle: FakeHandle, ctx: OperationContext): Promise<DestroyResult> {
    this.world.calls.push({ op: "destroy", sandboxId: ctx.sandboxId, at: Date.now() });
    const left = this.world.destroyFailuresLeft.get(handle.resource) ?? 0;
    // A slow teardown (the handle carries it: destroy gets nothing else) lets tests race destroys.
    if (handle.destroyMs) await sleep(handle.destroyMs, ctx.signal);
    if (left > 0) {
      this.world.destroyFailuresLeft.set(handle.resource, left - 1);
      throw new FakeFailure(`scripted destroy failure (${left} left)`);
    }
    if (!this.world.resources.delete(handle.resource)) return { result: "absent", detail: `${handle.resource} was already gone` };
    ctx.log(`removed ${handle.resource}`);
    return { result: "removed", detail: `removed ${handle.resource}` };
  }

  describeHandle(handle: FakeHandle): HandleSummary {
    return { target: handle.host ?? "fake world", workspacePath: handle.resource, teardown: [`fake resource ${handle.resource}`] };
  }
}
