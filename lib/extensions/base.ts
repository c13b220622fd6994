// The Extension SDK: the contract every kind of sandbox implements (docs/extension-sdk.md explains it
// for authors). An extension turns a profile's validated params into a sandbox, describes it with a
// destroy handle, and removes exactly what that handle names. The manager owns everything else:
// persistence, the state machine, leases, retries, host selection and capacity, events.
import "server-only";

import type { z } from "zod";

import { SandboxerError } from "../errors";

import type { SshIdentity, SshPool, SshTrust } from "../ssh";

import type { ExtensionManifest } from "./manifest";

export type LogLevel = "info" | "warn" | "error";

/** Appends a line to the sandbox's log (its events). Cheap; never throws. */
export type LogFn = (line: string, level?: LogLevel) => void;

/** A build host chosen by the manager from the host registry (for extensions that declare `needsHost`). */
export interface HostTarget {
  id: string;
  title: string;
  address: string;
  port: number;
  user: string;
  /** The pinned host key fingerprint, "SHA256:…". */
  hostKey: string;
  workspaceRoot: string;
  labels: string[];
}

/** What the host registry must provide for a sandbox: a named host, or any healthy host with a label. */
export type HostRequirement = { hostId: string } | { label: string };

/** Given to every operation. */
export interface OperationContext {
  sandboxId: string;
  /** Aborted when a destroy cancels a create, when a timeout fires, or when the process shuts down. */
  signal: AbortSignal;
  log: LogFn;
}

export interface CreateContext<P, H> extends OperationContext {
  params: P;
  /** Set when the extension declared a host requirement; the manager picked it and reserved capacity. */
  host: HostTarget | null;
  /**
   * Stores the destroy handle durably. Call it BEFORE any side effect on a remote or local system, so a
   * crash can never leave something untracked; call it again whenever the handle gains information.
   */
  recordHandle(handle: H): Promise<void>;
}

/** Given to `move`: the workspace a handle names, made with `from`, is to hold what `to` would have made. */
export interface MoveContext<P, H> extends OperationContext {
  handle: H;
  from: P;
  to: P;
}

/**
 * Thrown by `move` when what `to` asks for does not exist (a git ref the repository does not have): a
 * fresh create would fail the same way, so the manager fails the create with this reason instead of
 * falling back to one. Any other error from `move` makes the manager fall back to a fresh create.
 */
export class MoveTargetMissing extends SandboxerError {
  constructor(message: string) {
    super("POOL_MOVE_TARGET_MISSING", message, { name: "MoveTargetMissing" });
  }
}

export interface CheckContext<P> {
  params: P;
  host: HostTarget | null;
  signal: AbortSignal;
}

/** One line of `check()`: a named requirement, met or not, with a reason a person can act on. */
export interface Requirement {
  name: string;
  met: boolean;
  reason: string;
}

export type SandboxHealth = "ready" | "missing" | "degraded" | "unknown";

/** One service of a sandbox made of several (a compose project's services), for the detail page. */
export interface ServiceReport {
  name: string;
  /** The container that runs it, when there is one. */
  container?: string;
  /** In words: "running", "running (healthy)", "failed (exit code 3)", "created", "no container", … */
  state: string;
  /** up: running and not unhealthy; failed: stopped with an error, dead, unhealthy or gone; other: neither. */
  condition: "up" | "failed" | "other";
  /** The health check's status (healthy, unhealthy, starting), or null without one. */
  health: string | null;
  /** Published ports, e.g. "127.0.0.1:8080→80/tcp". */
  ports: string[];
  /** The last lines a failed service wrote (cleaned, bounded). */
  logTail?: string[];
}

export interface StatusReport {
  state: SandboxHealth;
  detail: string;
  /** Free space under the workspace root, when the extension can tell. */
  freeBytes?: number;
  /** Per service, for extensions whose sandboxes run several (ext.compose-ssh). */
  services?: ServiceReport[];
}

export interface DestroyResult {
  /** `absent`: there was nothing to remove (already gone, or create never got that far) — success. */
  result: "removed" | "absent";
  detail: string;
}

/** The destroy handle in human terms, for the detail page, the CLI and the teardown preview. */
export interface HandleSummary {
  /** "host:port" or "this server". */
  target: string;
  address?: string;
  port?: number;
  user?: string;
  workspacePath?: string;
  hostKey?: string;
  /** A command a person can paste to land in the workspace, when there is one. */
  sshCommand?: string;
  /** Exactly what a destroy removes, one line each, e.g. "directory /build/sbx-abc on 127.0.0.1:12222". */
  teardown: string[];
}

/** A workspace an extension recognised on a host while the manager reconciles that host. */
export interface FoundWorkspace {
  sandboxId: string;
  /** The path as listed, under one of the roots the manager asked about. */
  path: string;
  /** The same directory with every symlink resolved on the host (two roots may be one directory). */
  realPath: string;
  /**
   * `specific`: the extension's own marks are there (a compose project labelled with the sandbox's
   * name); `generic`: only a directory named `sbx-<id>`. When two extensions report the same workspace,
   * a specific claim wins, and that extension adopts it.
   */
  claim: "specific" | "generic";
}

export interface ListWorkspacesContext {
  host: HostTarget;
  /** Every root to look in: the host's own, and each root a live handle on the host names. */
  roots: string[];
  signal: AbortSignal;
}

/** Where a handle's workspace lives, for reconciliation. */
export interface WorkspaceLocation {
  /** The registered host it is on (null for handles recorded before hosts had ids). */
  hostId: string | null;
  root: string;
  path: string;
}

/** What SSH-based extensions get from the manager: one pool per process, identities, pinned keys. */
export interface SshServices {
  /** The process's pool: bounded connections per host (OpenSSH drops handshakes beyond MaxStartups). */
  pool: SshPool;
  /** The private key (or agent) used for a host: hosts.yaml's identityFile, else SANDBOXER_SSH_IDENTITY. */
  identityFor(hostId: string | null): SshIdentity;
  /** The key currently pinned for a registered host (an admin may have re-pinned it after a rebuild). */
  pinnedKey(hostId: string): Promise<string | null>;
  /**
   * How a host's key is trusted, given the key pinned for it: the pin, hosts.yaml's known_hosts file for
   * the host, or both (the pin decides, the file can revoke). A host whose hosts.yaml entry names only a
   * known_hosts file is trusted through the file alone.
   */
  trustFor(hostId: string | null, pinned: string | null): SshTrust;
  /** Remembers the full public key a host presented on a verified connection (for the CLI's known_hosts). */
  rememberHostKey(hostId: string, publicKeyLine: string): Promise<void>;
  readyTimeoutMs: number;
}

/** Services the manager hands to extensions; extensions never construct their own SSH pools or clients. */
export interface ExtensionServices {
  /** Present when the server has an SSH configuration (always, in the app; tests may omit it). */
  ssh?: SshServices;
  /** The manager's host for ext.local: where local workspaces live. */
  localWorkspaceRoot: string;
}

export interface ExtensionInit {
  manifest: ExtensionManifest;
  services: ExtensionServices;
}

/**
 * Base class for every extension. `P` is the params type (after the manifest's defaults are merged and
 * `paramsSchema` parsed them), `H` the destroy handle type (`handleSchema` parses what was stored).
 */
export abstract class SandboxExtension<P = unknown, H extends { extension: string } = { extension: string }> {
  readonly manifest: ExtensionManifest;
  protected readonly services: ExtensionServices;

  /** Validates a profile's params (manifest defaults merged in). Use strict objects: typos are errors. */
  abstract readonly paramsSchema: z.ZodType<P>;
  /** Validates a stored handle before status/destroy use it. Every field create may not have set yet is optional. */
  abstract readonly handleSchema: z.ZodType<H>;

  constructor(init: ExtensionInit) {
    this.manifest = init.manifest;
    this.services = init.services;
  }

  get id(): string {
    return this.manifest.id;
  }

  /**
   * True when a sandbox's workspace lives on the machine of the worker that creates it (ext.local):
   * the sandbox records that machine and only workers there run its operations, and the SSH gateway
   * enters it as a local process (only such extensions' sandboxes: lib/gateway/instance.ts).
   */
  get machineLocal(): boolean {
    return false;
  }

  /** Which build host a sandbox with these params needs, or null when it needs none (the default). */
  hostRequirement(_params: P): HostRequirement | null {
    return null;
  }

  /** Can this extension reach what it needs (hosts, binaries, directories)? */
  abstract check(ctx: CheckContext<P>): Promise<Requirement[]>;

  /**
   * Builds the sandbox. Calls `ctx.recordHandle` before any side effect, honours `ctx.signal`, logs its
   * progress with `ctx.log`, and returns the final handle. On failure it throws; the manager then runs
   * `destroy` with the last recorded handle to clean up.
   */
  abstract create(ctx: CreateContext<P, H>): Promise<H>;

  /**
   * Reports whether what the handle names still exists and works. The reconciler asks it before it
   * calls a ready sandbox `missing` (and the conformance kit checks it after create and destroy).
   */
  abstract status(handle: H, ctx: OperationContext): Promise<StatusReport>;

  /**
   * Removes exactly what the handle names and nothing else. Idempotent: "already gone" is success
   * (`absent`). Must work for a handle recorded at any point of `create`.
   */
  abstract destroy(handle: H, ctx: OperationContext): Promise<DestroyResult>;

  /** The handle in human terms. */
  abstract describeHandle(handle: H): HandleSummary;

  // ─── Warm pools: moving a member to other params ────────────────────────────────────────────────

  /**
   * Whether a workspace made with `from` can be moved in place to `to` by `move` (another git ref of
   * the same repository, say) — cheaper than a fresh create. Called in the request, so it must be pure
   * and quick; false when the two are equal. Default: never.
   */
  canMove(_from: P, _to: P): boolean {
    return false;
  }

  /**
   * Moves the workspace the handle names (made with `from`) to `to`, so that it holds exactly what a
   * fresh create with `to` would, and returns the handle (the same workspace). Honours `ctx.signal`.
   * Throws `MoveTargetMissing` when `to` names something that does not exist; on any other error the
   * manager destroys the workspace and creates it afresh. Only called when `canMove(from, to)`.
   */
  async move(_ctx: MoveContext<P, H>): Promise<H> {
    throw new Error(`${this.id} cannot move a workspace to other params`);
  }

  // ─── Reconciliation hooks (extensions whose sandboxes live on build hosts) ──────────────────────

  /** Where the handle's workspace lives on its host, or null when it is not on a build host (the default). */
  workspaceOf(_handle: H): WorkspaceLocation | null {
    return null;
  }

  /**
   * The workspaces of this extension's kind found on a host under the given roots, whether or not a
   * sandbox records them. The manager compares them with its records: one that no live sandbox names
   * is an orphan an admin may adopt or clean up (nothing is deleted automatically). Default: none.
   */
  async listWorkspaces(_ctx: ListWorkspacesContext): Promise<FoundWorkspace[]> {
    return [];
  }

  /**
   * The handle for an orphan workspace this extension reported, so that adopting it gives a sandbox a
   * destroy removes exactly as if this extension had created it. Null: this extension cannot adopt it
   * (the default).
   */
  async adopt(_found: FoundWorkspace, _ctx: { host: HostTarget; signal: AbortSignal }): Promise<H | null> {
    return null;
  }
}

/** A constructor of an extension class, as the registry stores it. */
export type ExtensionClass = new (init: ExtensionInit) => SandboxExtension<unknown, { extension: string }>;
