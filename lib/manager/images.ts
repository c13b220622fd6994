// Images as sand-boxer sees them (docs/images.md): manifests in images/, versions made by builds,
// channels that point at versions, revocation (which drains the hosts running the version), the
// requirement a profile may state, and starting or cancelling a build. Builds themselves run as
// `image_build` operations (./operations/image-build.ts).
import { publishTeamEvent, type BuildLogLine } from "./team-events";
import "server-only";

import { randomUUID } from "node:crypto";

import { actorUserId, type Actor } from "../auth/actor";
import { can } from "../auth/policy";
import type { HostRow } from "../db/hosts";
import { findHost, updateHost } from "../db/hosts";
import {
  buildLogAfter,
  buildLogTail,
  buildOperation,
  findBuild,
  findChannel,
  findImageVersion,
  cancelBuildOperation,
  hostImages,
  hostsRunning,
  insertBuild,
  listBuilds,
  listChannels,
  listImageVersions,
  markVersionRevoked,
  moveBuild,
  nextVersionNumber,
  upsertChannel,
  type ImageBuildRow,
} from "../db/images";
import { insertOperation, operationCreate } from "../db/operations";
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from "../errors";
import type { ImageRequirement } from "../extensions/profile";
import { loadImages, type ImageManifest } from "../images/manifest";
import { audit } from "./audit";
import { CancelledByDestroy } from "./operations/runtime";
import type { ManagerContext } from "./context";
import { publishHostChanged } from "./host-views";

type Ctx = Pick<ManagerContext, "db" | "notifier" | "logger" | "config" | "runningOperations">;

function requireAdmin(actor: Actor): void {
  if (!can(actor, "host.manage")) throw new ForbiddenError("This needs the admin role");
}

export function imageManifests(ctx: Pick<ManagerContext, "config">): ImageManifest[] {
  return loadImages(ctx.config.configDir).images;
}

export function imageManifest(ctx: Pick<ManagerContext, "config">, name: string): ImageManifest {
  const m = imageManifests(ctx).find((i) => i.name === name);
  if (!m) throw new NotFoundError("Image", name);
  return m;
}

// ─── What a profile requires, and which hosts fit ───────────────────────────────────────────────

export type ResolvedImage = { ok: true; name: string; version: string; label: string } | { ok: false; reason: string };

/** The concrete version a requirement means now (a channel is followed), or why there is none. */
export async function resolveImageRequirement(ctx: Pick<ManagerContext, "db">, req: ImageRequirement): Promise<ResolvedImage> {
  if (req.version !== undefined) {
    const v = await findImageVersion(ctx.db, req.name, req.version);
    if (v?.revokedAt)
      return {
        ok: false,
        reason: `the profile needs image ${req.name} ${req.version}, which was revoked (${v.revokeReason ?? "no reason given"})`,
      };
    return { ok: true, name: req.name, version: req.version, label: `${req.name} ${req.version}` };
  }
  const ch = await findChannel(ctx.db, req.name, req.channel!);
  if (!ch)
    return { ok: false, reason: `the profile needs image ${req.name} from channel "${req.channel}", which points at no version yet` };
  const v = await findImageVersion(ctx.db, req.name, ch.version);
  if (v?.revokedAt)
    return { ok: false, reason: `channel "${req.channel}" of image ${req.name} points at ${ch.version}, which was revoked` };
  return { ok: true, name: req.name, version: ch.version, label: `${req.name} ${ch.version} (channel ${req.channel})` };
}

/** For placement: why a host's image does not fit (null when it does). */
export function imageMismatch(resolved: ResolvedImage): (host: HostRow) => string | null {
  return (host) => {
    if (!resolved.ok) return resolved.reason;
    if (host.imageName === resolved.name && host.imageVersion === resolved.version) return null;
    const runs = host.imageName
      ? `runs ${host.imageName} ${host.imageVersion}`
      : `has no image marker${host.imageDetail ? ` (${host.imageDetail})` : ""}`;
    return `${runs}; the profile needs ${resolved.label}`;
  };
}

// ─── Channels and revocation ────────────────────────────────────────────────────────────────────

export async function setChannel(ctx: Ctx, actor: Actor, image: string, channel: string, version: string): Promise<void> {
  requireAdmin(actor);
  if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(channel))
    throw new ValidationError("Not a channel name", { channel: ["lowercase words and dashes"] });
  const v = await findImageVersion(ctx.db, image, version);
  if (!v) throw new ConflictError("IMAGE_VERSION_UNKNOWN", `Image ${image} has no version ${version}`);
  if (v.revokedAt)
    throw new ConflictError("IMAGE_VERSION_UNKNOWN", `Image ${image} ${version} was revoked; it cannot be a channel's version`);
  const before = await findChannel(ctx.db, image, channel);
  await upsertChannel(ctx.db, image, channel, version, actor.label);
  await audit(ctx, {
    actor,
    action: "image.channel",
    target: `${image}:${channel}`,
    result: "ok",
    message: `Channel ${channel} of ${image} now points at ${version}${before ? ` (was ${before.version})` : ""}`,
    data: { image, channel, from: before?.version ?? null, to: version },
  });
  ctx.notifier.operationQueued();
}

/**
 * Revokes a version: no profile gets it any more, and every host running it is drained (cordoned;
 * sandboxes there keep running until they expire or are destroyed).
 */
export async function revokeVersion(ctx: Ctx, actor: Actor, image: string, version: string, reason?: string): Promise<string[]> {
  requireAdmin(actor);
  const v = await findImageVersion(ctx.db, image, version);
  if (!v) throw new ConflictError("IMAGE_VERSION_UNKNOWN", `Image ${image} has no version ${version}`);
  const why =
    (reason ?? "")
      .replace(/[\u0000-\u001f\u007f]+/g, " ")
      .trim()
      .slice(0, 200) || null;
  if (!v.revokedAt) await markVersionRevoked(ctx.db, image, version, actor.label, why);
  const hosts = await hostsRunning(ctx.db, image, version);
  const now = new Date();
  for (const h of hosts) {
    await updateHost(ctx.db, h.id, {
      cordoned: true,
      cordonReason: `image ${image} ${version} revoked${why ? `: ${why}` : ""}`,
      cordonedAt: now,
      cordonedBy: actor.label,
      drainedAt: now,
    });
    await publishHostChanged(ctx, h.id);
  }
  await audit(ctx, {
    actor,
    action: "image.revoke",
    target: `${image}@${version}`,
    result: "ok",
    message: `Revoked ${image} ${version}${why ? ` (${why})` : ""}; drained ${hosts.length ? hosts.map((h) => h.id).join(", ") : "no hosts"}`,
    data: { image, version, reason: why, drained: hosts.map((h) => h.id) },
  });
  return hosts.map((h) => h.id);
}

// ─── Views ──────────────────────────────────────────────────────────────────────────────────────

export interface ImageVersionView {
  version: string;
  createdAt: string;
  createdBy: string | null;
  templateHash: string;
  artifacts: string[];
  revokedAt: string | null;
  revokeReason: string | null;
  channels: string[];
  hosts: string[];
}

export interface ImageView {
  name: string;
  title: string;
  description: string;
  template: string;
  variables: Record<string, string>;
  /** Set when the manifest is gone or invalid but versions were built. */
  problem: string | null;
  channels: { channel: string; version: string }[];
  versions: ImageVersionView[];
}

export interface ImageBuildView {
  id: string;
  image: string;
  version: string;
  hostId: string | null;
  state: string;
  error: string | null;
  templateHash: string | null;
  artifacts: string[];
  offeredHostKey: string | null;
  actor: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

/** One line of a build's log (the same shape the team stream's `build.log` notices carry). */
export type BuildLogLineView = BuildLogLine;

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

export function buildView(b: ImageBuildRow): ImageBuildView {
  return {
    id: b.id,
    image: b.image,
    version: b.version,
    hostId: b.hostId,
    state: b.state,
    error: b.error,
    templateHash: b.templateHash,
    artifacts: strings(b.artifacts),
    offeredHostKey: b.offeredHostKey,
    actor: b.actorLabel,
    createdAt: b.createdAt.toISOString(),
    startedAt: b.startedAt?.toISOString() ?? null,
    finishedAt: b.finishedAt?.toISOString() ?? null,
  };
}

export async function listImages(ctx: Pick<ManagerContext, "db" | "config">): Promise<ImageView[]> {
  const loaded = loadImages(ctx.config.configDir);
  const [versions, channels, hosts] = await Promise.all([listImageVersions(ctx.db), listChannels(ctx.db), hostImages(ctx.db)]);
  const names = [...new Set([...loaded.images.map((i) => i.name), ...versions.map((v) => v.image)])].sort();
  return names.map((name) => {
    const m = loaded.images.find((i) => i.name === name);
    const problem = m ? null : (loaded.issues.find((i) => i.file.includes(`${name}.y`))?.message ?? `no images/${name}.yaml any more`);
    const ch = channels.filter((c) => c.image === name);
    return {
      name,
      title: m?.title ?? name,
      description: m?.description ?? "",
      template: m?.template ?? "",
      variables: m?.variables ?? {},
      problem,
      channels: ch.map((c) => ({ channel: c.channel, version: c.version })),
      versions: versions
        .filter((v) => v.image === name)
        .map((v) => ({
          version: v.version,
          createdAt: v.createdAt.toISOString(),
          createdBy: v.createdBy,
          templateHash: v.templateHash,
          artifacts: strings(v.artifacts),
          revokedAt: v.revokedAt?.toISOString() ?? null,
          revokeReason: v.revokeReason,
          channels: ch.filter((c) => c.version === v.version).map((c) => c.channel),
          hosts: hosts.filter((h) => h.imageName === name && h.imageVersion === v.version).map((h) => h.id),
        })),
    };
  });
}

export async function listImageBuilds(ctx: Pick<ManagerContext, "db">): Promise<ImageBuildView[]> {
  return (await listBuilds(ctx.db)).map(buildView);
}

export async function getImageBuild(ctx: Pick<ManagerContext, "db">, id: string): Promise<ImageBuildView> {
  const b = await findBuild(ctx.db, id);
  if (!b) throw new NotFoundError("Image build", id);
  return buildView(b);
}

function lineView(l: { id: number; level: string; message: string; createdAt: Date }): BuildLogLineView {
  return { id: l.id, level: l.level, message: l.message, at: l.createdAt.toISOString() };
}

export async function imageBuildLog(ctx: Pick<ManagerContext, "db">, id: string, after = 0, limit = 500): Promise<BuildLogLineView[]> {
  return (await buildLogAfter(ctx.db, id, after, limit)).map(lineView);
}

/**
 * The last `limit` lines of a build's log, for its page: the page follows new lines from there, so
 * it must start at the end, not at the first `limit` lines (those would leave a gap before the live ones).
 */
export async function imageBuildLogTail(
  ctx: Pick<ManagerContext, "db">,
  id: string,
  limit: number,
): Promise<{ lines: BuildLogLineView[]; earlier: boolean }> {
  const { lines, earlier } = await buildLogTail(ctx.db, id, limit);
  return { lines: lines.map(lineView), earlier };
}

// ─── Starting and cancelling builds ─────────────────────────────────────────────────────────────

/**
 * Starts a build of `image` (optionally a rebuild in place of a registered host over SSH): assigns
 * the version, records the build and queues its operation (one attempt, never retried on its own).
 */
export async function startImageBuild(ctx: Ctx, actor: Actor, input: { image: string; hostId?: string }): Promise<ImageBuildView> {
  requireAdmin(actor);
  const manifest = imageManifest(ctx, input.image);
  if (input.hostId) {
    const host = await findHost(ctx.db, input.hostId);
    if (!host) throw new NotFoundError("Host", input.hostId);
    if (host.health === "unconfirmed") throw new ConflictError("KEY_NOT_PENDING", `${host.id}'s host key is not confirmed yet`);
  }
  const id = `bld_${randomUUID().replaceAll("-", "").slice(0, 16)}`;
  let version = "";
  for (let attempt = 0; attempt < 5; attempt++) {
    version = String(await nextVersionNumber(ctx.db, manifest.name));
    try {
      await insertBuild(ctx.db, {
        id,
        image: manifest.name,
        version,
        hostId: input.hostId ?? null,
        state: "queued",
        actorId: actorUserId(actor),
        actorLabel: actor.label,
      });
      break;
    } catch (e) {
      if ((e as { code?: string }).code !== "P2002" || attempt === 4) throw e; // another build took the number
    }
  }
  await insertOperation(
    ctx.db,
    operationCreate({
      kind: "image_build",
      hostId: input.hostId ?? null,
      maxAttempts: 1,
      actorId: actorUserId(actor),
      payload: { buildId: id },
    }),
  );
  await audit(ctx, {
    actor,
    action: "image.build",
    target: `${manifest.name}@${version}`,
    result: "ok",
    message: `Build of ${manifest.name} ${version} started${input.hostId ? ` (rebuild of ${input.hostId} in place)` : ""}`,
    data: { build: id, image: manifest.name, version, host: input.hostId ?? null },
  });
  ctx.notifier.operationQueued();
  return getImageBuild(ctx, id);
}

/** Cancels a build: a queued one never starts; a running one's Packer is killed. */
export async function cancelImageBuild(ctx: Ctx, actor: Actor, id: string): Promise<ImageBuildView> {
  requireAdmin(actor);
  const b = await findBuild(ctx.db, id);
  if (!b) throw new NotFoundError("Image build", id);
  if (!["queued", "running"].includes(b.state)) throw new ConflictError("BUILD_NOT_RUNNING", `Build ${id} already ${b.state}`);
  const op = await buildOperation(ctx.db, id);
  if (op) await cancelBuildOperation(ctx.db, op.id);
  // A build that has not started yet ends here; a running one ends when its worker sees the request
  // (at once on this process; within the cancel poll on another).
  if (
    await moveBuild(ctx.db, id, ["queued"], {
      state: "cancelled",
      error: `Cancelled by ${actor.label} before it started`,
      finishedAt: new Date(),
    })
  )
    await publishTeamEvent(ctx, "build.changed", { buildId: id, state: "cancelled" });
  for (const [key, controller] of ctx.runningOperations) if (op && key.endsWith(`:${op.id}`)) controller.abort(new CancelledByDestroy());
  await audit(ctx, {
    actor,
    action: "image.build_cancel",
    target: `${b.image}@${b.version}`,
    result: "ok",
    message: `Cancel of build ${id} requested`,
  });
  return getImageBuild(ctx, id);
}
