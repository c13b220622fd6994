import { describe, expect, it } from "vitest";

import { cleanDisplayName, MAX_DISPLAY_NAME } from "./display-text";

describe("display names", () => {
  it("lose NUL, CR/LF, escape sequences and bidi overrides; whitespace collapses", () => {
    expect(cleanDisplayName("Ada\u0000 \r\nLovelace")).toBe("Ada Lovelace");
    expect(cleanDisplayName("\u202eevil\u202c name\u2066x\u2069")).toBe("evil name x");
    expect(cleanDisplayName("\u001b[2J\u001b]0;title\u0007Bob")).toBe("[2J ]0;title Bob");
    expect(cleanDisplayName("  Zoë  Ñúñez ✓ ")).toBe("Zoë Ñúñez ✓");
  });

  it("are bounded in characters (a 10 kB name is cut, not stored)", () => {
    const long = `${"é".repeat(10_000)}`;
    expect([...cleanDisplayName(long)].length).toBe(MAX_DISPLAY_NAME);
    expect(cleanDisplayName("😀".repeat(200))).toBe("😀".repeat(MAX_DISPLAY_NAME));
  });

  it("give nothing for non-strings and for text that is only controls", () => {
    expect(cleanDisplayName(undefined)).toBe("");
    expect(cleanDisplayName(42)).toBe("");
    expect(cleanDisplayName("\u0000\u202e\r\n")).toBe("");
  });
});
