-- AlterTable
ALTER TABLE "OrphanWorkspace" ADD COLUMN     "extensionId" TEXT NOT NULL DEFAULT 'ext.vm-packer';
