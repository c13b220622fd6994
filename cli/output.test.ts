import { describe, expect, it } from "vitest";

import { table, terminalSafe } from "./output";

describe("what the CLI prints from the server", () => {
  it("loses escape sequences, other control characters and bidi overrides; keeps text, newlines and tabs", () => {
    const hostile = "Mallory\u001b[2J\u001b]0;pwned\u0007\u0000\r\u202eevil\u2066x\u009b1m";
    expect(terminalSafe(hostile)).toBe("Mallory[2J]0;pwnedevilx1m");
    expect(terminalSafe("a\tb\nc — ü ✓")).toBe("a\tb\nc — ü ✓");
  });

  it("keeps each table cell on one line and aligned after cleaning", () => {
    const t = table(["ID", "OWNER", "X"], [["a", "evil\u001b[2J\nname", "1"]]);
    expect(t.split("\n")).toEqual(["ID  OWNER         X", "a   evil[2J name  1"]);
  });
});
