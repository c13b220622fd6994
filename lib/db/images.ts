// Image versions, channels, builds and their logs (docs/images.md).
import "server-only";

import type { Db, Prisma } from "./client";

export type ImageVersionRow = Prisma.ImageVersionGetPayload<object>;
export type ImageBuildRow = Prisma.ImageBuildGetPayload<object>;

export async function listImageVersions(db: Db): Promise<ImageVersionRow[]> {
  return db.imageVersion.findMany({ orderBy: [{ image: "asc" }, { createdAt: "desc" }] });
}

export async function findImageVersion(db: Db, image: string, version: string): Promise<ImageVersionRow | null> {
  return db.imageVersion.findUnique({ where: { image_version: { image, version } } });
}

export async function insertImageVersion(db: Db, data: Prisma.ImageVersionCreateInput): Promise<void> {
  await db.imageVersion.create({ data });
}

export async function markVersionRevoked(db: Db, image: string, version: string, by: string, reason: string | null): Promise<void> {
  await db.imageVersion.update({
    where: { image_version: { image, version } },
    data: { revokedAt: new Date(), revokedBy: by, revokeReason: reason },
  });
}

export async function listChannels(db: Db) {
  return db.imageChannel.findMany({ orderBy: [{ image: "asc" }, { channel: "asc" }] });
}

export async function findChannel(db: Db, image: string, channel: string) {
  return db.imageChannel.findUnique({ where: { image_channel: { image, channel } } });
}

export async function upsertChannel(db: Db, image: string, channel: string, version: string, by: string): Promise<void> {
  await db.imageChannel.upsert({
    where: { image_channel: { image, channel } },
    create: { image, channel, version, updatedBy: by },
    update: { version, updatedBy: by },
  });
}

/** Hosts whose marker names this image version. */
export async function hostsRunning(db: Db, image: string, version: string) {
  return db.buildHost.findMany({ where: { imageName: image, imageVersion: version }, select: { id: true, title: true, cordoned: true } });
}

/** The next version number of an image: one more than the highest numeric version built (or attempted). */
export async function nextVersionNumber(db: Db, image: string): Promise<number> {
  const rows = await db.imageBuild.findMany({ where: { image }, select: { version: true } });
  return rows.reduce((max, r) => Math.max(max, /^\d+$/.test(r.version) ? Number(r.version) : 0), 0) + 1;
}

export async function insertBuild(db: Db | Prisma.TransactionClient, data: Prisma.ImageBuildCreateInput): Promise<void> {
  await db.imageBuild.create({ data });
}

export async function findBuild(db: Db, id: string): Promise<ImageBuildRow | null> {
  return db.imageBuild.findUnique({ where: { id } });
}

export async function listBuilds(db: Db, limit = 50): Promise<ImageBuildRow[]> {
  return db.imageBuild.findMany({ orderBy: { createdAt: "desc" }, take: limit });
}

export async function updateBuild(
  db: Db,
  id: string,
  data: Pick<
    Prisma.ImageBuildUpdateInput,
    "state" | "error" | "templateHash" | "variables" | "artifacts" | "offeredHostKey" | "startedAt" | "finishedAt"
  >,
): Promise<void> {
  await db.imageBuild.update({ where: { id }, data });
}

/** Moves a build from one state to another only if it is still in `from` (a cancel racing the worker). */
export async function moveBuild(db: Db, id: string, from: string[], data: Prisma.ImageBuildUpdateInput): Promise<boolean> {
  const r = await db.imageBuild.updateMany({ where: { id, state: { in: from } }, data });
  return r.count === 1;
}

/** Stores lines of a build's log; returns them with their ids, in order. */
export async function appendBuildLog(db: Db, buildId: string, lines: { level: string; message: string }[]) {
  if (lines.length === 0) return [];
  const rows = await db.imageBuildLog.createManyAndReturn({
    data: lines.map((l) => ({ buildId, level: l.level, message: l.message })),
    select: { id: true, level: true, message: true, createdAt: true },
  });
  return rows.sort((a, b) => a.id - b.id);
}

/** The last `limit` lines of a build's log, oldest first, and whether earlier ones exist. */
export async function buildLogTail(db: Db, buildId: string, limit: number) {
  const rows = await db.imageBuildLog.findMany({ where: { buildId }, orderBy: { id: "desc" }, take: limit + 1 });
  return { lines: rows.slice(0, limit).reverse(), earlier: rows.length > limit };
}

export async function buildLogAfter(db: Db, buildId: string, after: number, limit = 500) {
  return db.imageBuildLog.findMany({ where: { buildId, id: { gt: after } }, orderBy: { id: "asc" }, take: limit });
}

/** The operation running (or queued for) a build. */
export async function buildOperation(db: Db, buildId: string) {
  return db.operation.findFirst({ where: { kind: "image_build", payload: { equals: { buildId } } }, orderBy: { createdAt: "desc" } });
}

/** What every host's marker says, for the images page. */
export async function hostImages(db: Db) {
  return db.buildHost.findMany({ select: { id: true, imageName: true, imageVersion: true } });
}

/** Asks a build's operation to stop; a queued one is cancelled at once. */
export async function cancelBuildOperation(db: Db, opId: string): Promise<void> {
  await db.operation.updateMany({ where: { id: opId, state: "running" }, data: { cancelRequested: true } });
  await db.operation.updateMany({
    where: { id: opId, state: "queued" },
    data: { state: "cancelled", cancelRequested: true, finishedAt: new Date(), error: "Build cancelled before it started" },
  });
}
