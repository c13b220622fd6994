-- AlterTable
ALTER TABLE "Sandbox" ADD COLUMN     "sessionActivityAt" TIMESTAMP(3);

-- CreateTable
CREATE TABLE "SshKey" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "publicKey" TEXT NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "comment" TEXT NOT NULL,
    "bits" INTEGER NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastUsedAt" TIMESTAMP(3),

    CONSTRAINT "SshKey_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SshSession" (
    "id" TEXT NOT NULL,
    "sandboxId" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "userLabel" TEXT NOT NULL,
    "keyFingerprint" TEXT NOT NULL,
    "sourceIp" TEXT NOT NULL,
    "instanceId" TEXT NOT NULL,
    "kind" TEXT NOT NULL DEFAULT 'none',
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "endedAt" TIMESTAMP(3),
    "bytesIn" BIGINT NOT NULL DEFAULT 0,
    "bytesOut" BIGINT NOT NULL DEFAULT 0,
    "exitCode" INTEGER,
    "exitSignal" TEXT,
    "endReason" TEXT,
    "closeRequestedAt" TIMESTAMP(3),
    "closeRequestedBy" TEXT,

    CONSTRAINT "SshSession_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "SshGateway" (
    "instanceId" TEXT NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "listen" TEXT NOT NULL,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "heartbeatAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "SshGateway_pkey" PRIMARY KEY ("instanceId")
);

-- CreateIndex
CREATE UNIQUE INDEX "SshKey_fingerprint_key" ON "SshKey"("fingerprint");

-- CreateIndex
CREATE INDEX "SshKey_userId_idx" ON "SshKey"("userId");

-- CreateIndex
CREATE INDEX "SshSession_sandboxId_endedAt_idx" ON "SshSession"("sandboxId", "endedAt");

-- CreateIndex
CREATE INDEX "SshSession_instanceId_endedAt_idx" ON "SshSession"("instanceId", "endedAt");

-- CreateIndex
CREATE INDEX "SshSession_userId_endedAt_idx" ON "SshSession"("userId", "endedAt");

-- CreateIndex
CREATE INDEX "SshGateway_heartbeatAt_idx" ON "SshGateway"("heartbeatAt");

-- AddForeignKey
ALTER TABLE "SshKey" ADD CONSTRAINT "SshKey_userId_fkey" FOREIGN KEY ("userId") REFERENCES "user"("id") ON DELETE CASCADE ON UPDATE CASCADE;
