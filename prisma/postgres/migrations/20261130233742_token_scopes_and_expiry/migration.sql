-- AlterTable
ALTER TABLE "ApiToken" ADD COLUMN     "expiresAt" TIMESTAMP(3),
ADD COLUMN     "scopes" TEXT NOT NULL DEFAULT 'full';

-- Tokens made before scopes existed keep working as they did: full access, no expiry ("never —
-- legacy"), and an admin's tokens keep the admin powers they had (the admin scope, which only counts
-- while the owner is an admin). New tokens get scopes and an expiry when created.
UPDATE "ApiToken" SET "scopes" = 'full admin' WHERE "userId" IN (SELECT "id" FROM "user" WHERE "role" = 'admin');
