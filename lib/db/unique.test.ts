import { describe, expect, it } from "vitest";

import { uniqueViolationFields } from "./unique";

// The shapes Prisma 7's adapters put in a P2002 error's meta (seen on both databases; the integration
// test in db-access.test.ts checks them against real writes).
const sqlite = (fields: string[]) => ({
  code: "P2002",
  meta: { driverAdapterError: { cause: { kind: "UniqueConstraintViolation", constraint: { fields } } } },
});
const postgres = (index: string) => ({
  code: "P2002",
  meta: { driverAdapterError: { cause: { kind: "UniqueConstraintViolation", constraint: { index } } } },
});

describe("uniqueViolationFields", () => {
  it("reads SQLite's field list and PostgreSQL's index name alike", () => {
    expect(uniqueViolationFields(sqlite(["tunnelPort"]))).toEqual(["tunnelPort"]);
    expect(uniqueViolationFields(postgres("BuildHost_tunnelPort_key"))).toEqual(["tunnelPort"]);
    expect(uniqueViolationFields(postgres("BuildHost_pkey"))).toEqual(["id"]);
    expect(uniqueViolationFields(postgres("ApiToken_userId_name_key"))).toEqual(["userId", "name"]);
  });

  it("is null for anything but a unique violation, and [] when the key is not named", () => {
    expect(uniqueViolationFields(new Error("x"))).toBeNull();
    expect(uniqueViolationFields({ code: "P2025" })).toBeNull();
    expect(uniqueViolationFields(undefined)).toBeNull();
    expect(uniqueViolationFields({ code: "P2002" })).toEqual([]);
  });
});
