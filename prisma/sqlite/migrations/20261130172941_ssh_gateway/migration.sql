-- AlterTable
ALTER TABLE "Sandbox" ADD COLUMN "sessionActivityAt" DATETIME;

-- CreateTable
CREATE TABLE "SshKey" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "userId" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "publicKey" TEXT NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "comment" TEXT NOT NULL,
    "bits" INTEGER NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastUsedAt" DATETIME,
    CONSTRAINT "SshKey_userId_fkey" FOREIGN KEY ("userId") REFERENCES "user" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "SshSession" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "sandboxId" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "userLabel" TEXT NOT NULL,
    "keyFingerprint" TEXT NOT NULL,
    "sourceIp" TEXT NOT NULL,
    "instanceId" TEXT NOT NULL,
    "kind" TEXT NOT NULL DEFAULT 'none',
    "startedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "endedAt" DATETIME,
    "bytesIn" BIGINT NOT NULL DEFAULT 0,
    "bytesOut" BIGINT NOT NULL DEFAULT 0,
    "exitCode" INTEGER,
    "exitSignal" TEXT,
    "endReason" TEXT,
    "closeRequestedAt" DATETIME,
    "closeRequestedBy" TEXT
);

-- CreateTable
CREATE TABLE "SshGateway" (
    "instanceId" TEXT NOT NULL PRIMARY KEY,
    "fingerprint" TEXT NOT NULL,
    "listen" TEXT NOT NULL,
    "startedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "heartbeatAt" DATETIME NOT NULL
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
