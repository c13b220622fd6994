-- CreateTable
CREATE TABLE "ImageVersion" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "image" TEXT NOT NULL,
    "version" TEXT NOT NULL,
    "templateHash" TEXT NOT NULL,
    "variables" JSONB NOT NULL,
    "artifacts" JSONB NOT NULL,
    "buildId" TEXT,
    "createdBy" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" DATETIME,
    "revokedBy" TEXT,
    "revokeReason" TEXT
);

-- CreateTable
CREATE TABLE "ImageChannel" (
    "image" TEXT NOT NULL,
    "channel" TEXT NOT NULL,
    "version" TEXT NOT NULL,
    "updatedBy" TEXT,
    "updatedAt" DATETIME NOT NULL,

    PRIMARY KEY ("image", "channel")
);

-- CreateTable
CREATE TABLE "ImageBuild" (
    "id" TEXT NOT NULL PRIMARY KEY,
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
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "startedAt" DATETIME,
    "finishedAt" DATETIME
);

-- CreateTable
CREATE TABLE "ImageBuildLog" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "buildId" TEXT NOT NULL,
    "level" TEXT NOT NULL DEFAULT 'info',
    "message" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "ImageBuildLog_buildId_fkey" FOREIGN KEY ("buildId") REFERENCES "ImageBuild" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_BuildHost" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "title" TEXT NOT NULL,
    "address" TEXT NOT NULL,
    "port" INTEGER NOT NULL DEFAULT 22,
    "user" TEXT NOT NULL,
    "hostKey" TEXT NOT NULL,
    "configHostKey" TEXT,
    "offeredHostKey" TEXT,
    "hostPublicKey" TEXT,
    "workspaceRoot" TEXT NOT NULL DEFAULT '/build',
    "labels" JSONB NOT NULL,
    "capacity" INTEGER NOT NULL DEFAULT 10,
    "tunnelPort" INTEGER,
    "source" TEXT NOT NULL DEFAULT 'config',
    "health" TEXT NOT NULL DEFAULT 'unknown',
    "healthDetail" TEXT,
    "freeBytes" BIGINT,
    "checkedAt" DATETIME,
    "healthyAt" DATETIME,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    "cordoned" BOOLEAN NOT NULL DEFAULT false,
    "cordonReason" TEXT,
    "cordonedAt" DATETIME,
    "cordonedBy" TEXT,
    "drainedAt" DATETIME,
    "loadAverage" REAL,
    "cpuCount" INTEGER,
    "freeMemoryBytes" BIGINT,
    "markerPath" TEXT NOT NULL DEFAULT '/etc/sandboxer-image.json',
    "imageName" TEXT,
    "imageVersion" TEXT,
    "imageBuiltAt" DATETIME,
    "imageDetail" TEXT
);
INSERT INTO "new_BuildHost" ("address", "capacity", "checkedAt", "configHostKey", "createdAt", "freeBytes", "health", "healthDetail", "healthyAt", "hostKey", "hostPublicKey", "id", "labels", "offeredHostKey", "port", "source", "title", "tunnelPort", "updatedAt", "user", "workspaceRoot") SELECT "address", "capacity", "checkedAt", "configHostKey", "createdAt", "freeBytes", "health", "healthDetail", "healthyAt", "hostKey", "hostPublicKey", "id", "labels", "offeredHostKey", "port", "source", "title", "tunnelPort", "updatedAt", "user", "workspaceRoot" FROM "BuildHost";
DROP TABLE "BuildHost";
ALTER TABLE "new_BuildHost" RENAME TO "BuildHost";
CREATE UNIQUE INDEX "BuildHost_tunnelPort_key" ON "BuildHost"("tunnelPort");
CREATE INDEX "BuildHost_health_idx" ON "BuildHost"("health");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

-- CreateIndex
CREATE UNIQUE INDEX "ImageVersion_image_version_key" ON "ImageVersion"("image", "version");

-- CreateIndex
CREATE INDEX "ImageBuild_createdAt_idx" ON "ImageBuild"("createdAt");

-- CreateIndex
CREATE UNIQUE INDEX "ImageBuild_image_version_key" ON "ImageBuild"("image", "version");

-- CreateIndex
CREATE INDEX "ImageBuildLog_buildId_id_idx" ON "ImageBuildLog"("buildId", "id");
