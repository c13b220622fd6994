-- AlterTable
ALTER TABLE "BuildHost" ADD COLUMN     "configHostKey" TEXT,
ADD COLUMN     "hostPublicKey" TEXT;

-- CreateTable
CREATE TABLE "OrphanWorkspace" (
    "id" TEXT NOT NULL,
    "hostId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "firstSeenAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastSeenAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "OrphanWorkspace_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "OrphanWorkspace_hostId_name_key" ON "OrphanWorkspace"("hostId", "name");

-- AddForeignKey
ALTER TABLE "OrphanWorkspace" ADD CONSTRAINT "OrphanWorkspace_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "BuildHost"("id") ON DELETE CASCADE ON UPDATE CASCADE;
