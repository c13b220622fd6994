-- AlterTable
ALTER TABLE "Sandbox" ADD COLUMN     "poolKey" TEXT;

-- CreateIndex
CREATE INDEX "Sandbox_poolKey_status_idx" ON "Sandbox"("poolKey", "status");
