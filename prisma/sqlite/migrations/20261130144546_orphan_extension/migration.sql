-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_OrphanWorkspace" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "hostId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "path" TEXT NOT NULL,
    "extensionId" TEXT NOT NULL DEFAULT 'ext.vm-packer',
    "firstSeenAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastSeenAt" DATETIME NOT NULL,
    CONSTRAINT "OrphanWorkspace_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "BuildHost" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
INSERT INTO "new_OrphanWorkspace" ("firstSeenAt", "hostId", "id", "lastSeenAt", "name", "path") SELECT "firstSeenAt", "hostId", "id", "lastSeenAt", "name", "path" FROM "OrphanWorkspace";
DROP TABLE "OrphanWorkspace";
ALTER TABLE "new_OrphanWorkspace" RENAME TO "OrphanWorkspace";
CREATE UNIQUE INDEX "OrphanWorkspace_hostId_name_key" ON "OrphanWorkspace"("hostId", "name");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;
