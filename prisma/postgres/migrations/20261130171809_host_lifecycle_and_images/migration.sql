-- AlterTable
ALTER TABLE "BuildHost" ADD COLUMN     "cordonReason" TEXT,
ADD COLUMN     "cordoned" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "cordonedAt" TIMESTAMP(3),
ADD COLUMN     "cordonedBy" TEXT,
ADD COLUMN     "cpuCount" INTEGER,
ADD COLUMN     "drainedAt" TIMESTAMP(3),
ADD COLUMN     "freeMemoryBytes" BIGINT,
ADD COLUMN     "imageBuiltAt" TIMESTAMP(3),
ADD COLUMN     "imageDetail" TEXT,
ADD COLUMN     "imageName" TEXT,
ADD COLUMN     "imageVersion" TEXT,
ADD COLUMN     "loadAverage" DOUBLE PRECISION,
ADD COLUMN     "markerPath" TEXT NOT NULL DEFAULT '/etc/sandboxer-image.json';

-- CreateTable
CREATE TABLE "ImageVersion" (
    "id" TEXT NOT NULL,
    "image" TEXT NOT NULL,
    "version" TEXT NOT NULL,
    "templateHash" TEXT NOT NULL,
    "variables" JSONB NOT NULL,
    "artifacts" JSONB NOT NULL,
    "buildId" TEXT,
    "createdBy" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" TIMESTAMP(3),
    "revokedBy" TEXT,
    "revokeReason" TEXT,

    CONSTRAINT "ImageVersion_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ImageChannel" (
    "image" TEXT NOT NULL,
    "channel" TEXT NOT NULL,
    "version" TEXT NOT NULL,
    "updatedBy" TEXT,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ImageChannel_pkey" PRIMARY KEY ("image","channel")
);

-- CreateTable
CREATE TABLE "ImageBuild" (
    "id" TEXT NOT NULL,
    "image" TEXT NOT NULL,
    "version" TEXT NOT NULL,
    "hostId" TEXT,
    "state" TEXT NOT NULL,
    "error" TEXT,
    "templateHash" TEXT,
    "variables" JSONB,
    "artifacts" JSONB,
    "offeredHostKey" TEXT,
    "actorId" TEXT,
    "actorLabel" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" TIMESTAMP(3),
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "ImageBuild_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ImageBuildLog" (
    "id" SERIAL NOT NULL,
    "buildId" TEXT NOT NULL,
    "level" TEXT NOT NULL DEFAULT 'info',
    "message" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ImageBuildLog_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "ImageVersion_image_version_key" ON "ImageVersion"("image", "version");

-- CreateIndex
CREATE INDEX "ImageBuild_createdAt_idx" ON "ImageBuild"("createdAt");

-- CreateIndex
CREATE UNIQUE INDEX "ImageBuild_image_version_key" ON "ImageBuild"("image", "version");

-- CreateIndex
CREATE INDEX "ImageBuildLog_buildId_id_idx" ON "ImageBuildLog"("buildId", "id");

-- AddForeignKey
ALTER TABLE "ImageBuildLog" ADD CONSTRAINT "ImageBuildLog_buildId_fkey" FOREIGN KEY ("buildId") REFERENCES "ImageBuild"("id") ON DELETE CASCADE ON UPDATE CASCADE;
