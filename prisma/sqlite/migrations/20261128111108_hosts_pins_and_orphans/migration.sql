-- AlterTable
ALTER TABLE "BuildHost" ADD COLUMN "configHostKey" TEXT;
ALTER TABLE "BuildHost" ADD COLUMN "hostPublicKey" TEXT;

-- CreateTable
CREATE TABLE "OrphanWorkspace" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "hostId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "firstSeenAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastSeenAt" DATETIME NOT NULL,
    CONSTRAINT "OrphanWorkspace_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "BuildHost" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE UNIQUE INDEX "OrphanWorkspace_hostId_name_key" ON "OrphanWorkspace"("hostId", "name");
