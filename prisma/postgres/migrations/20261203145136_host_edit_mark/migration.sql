-- AlterTable
ALTER TABLE "BuildHost" ADD COLUMN     "editingSince" TIMESTAMP(3);
