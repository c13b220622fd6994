// Which unique key a write ran into. Prisma reports P2002 differently per adapter: SQLite names the
// fields (`constraint.fields`), PostgreSQL the index (`BuildHost_tunnelPort_key`, `BuildHost_pkey`).

/** The fields of the unique key `e` violated (["id"] for a primary key), or null when `e` is something else. */
export function uniqueViolationFields(e: unknown): string[] | null {
  const err = e as { code?: unknown; meta?: { driverAdapterError?: { cause?: { constraint?: { fields?: unknown; index?: unknown } } } } };
  if (err?.code !== "P2002") return null;
  const constraint = err.meta?.driverAdapterError?.cause?.constraint;
  if (Array.isArray(constraint?.fields)) return constraint.fields.map(String);
  if (typeof constraint?.index === "string") {
    const index = constraint.index;
    if (index.endsWith("_pkey")) return ["id"];
    // Prisma names a unique index <Model>_<field>[_<field>…]_key.
    const m = /^[A-Za-z0-9]+_(.+)_key$/.exec(index);
    if (m) return m[1]!.split("_");
  }
  return [];
}
