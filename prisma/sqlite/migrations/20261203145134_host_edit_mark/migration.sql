-- AlterTable
ALTER TABLE "BuildHost" ADD COLUMN "editingSince" DATETIME;
