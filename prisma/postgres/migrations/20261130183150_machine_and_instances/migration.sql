-- AlterTable
ALTER TABLE "Sandbox" ADD COLUMN     "machineId" TEXT;

-- AlterTable
ALTER TABLE "Worker" ADD COLUMN     "machineId" TEXT;

-- CreateTable
CREATE TABLE "Instance" (
    "id" TEXT NOT NULL,
    "role" TEXT NOT NULL,
    "machineId" TEXT,
    "publicUrl" TEXT NOT NULL,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "heartbeatAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Instance_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "Instance_heartbeatAt_idx" ON "Instance"("heartbeatAt");
