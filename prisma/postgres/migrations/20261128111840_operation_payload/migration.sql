-- AlterTable
ALTER TABLE "Operation" ADD COLUMN     "payload" JSONB;
