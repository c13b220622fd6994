-- AlterTable
ALTER TABLE "Sandbox" ADD COLUMN "machineId" TEXT;

-- AlterTable
ALTER TABLE "Worker" ADD COLUMN "machineId" TEXT;

-- CreateTable
CREATE TABLE "Instance" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "role" TEXT NOT NULL,
    "machineId" TEXT,
    "publicUrl" TEXT NOT NULL,
    "startedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "heartbeatAt" DATETIME NOT NULL
);

-- CreateIndex
CREATE INDEX "Instance_heartbeatAt_idx" ON "Instance"("heartbeatAt");
