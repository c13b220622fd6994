import { describe, expect, it } from "vitest";
import { z } from "zod";

import { zodFieldErrors } from "./http-errors";

describe("zodFieldErrors", () => {
  it("is a plain object (React serialises server action results only if so), keeping keys such as __proto__", () => {
    const r = z.strictObject({ capacity: z.number().min(1) }).safeParse(JSON.parse('{"capacity":0,"__proto__":1}'));
    const errors = zodFieldErrors(r.error!);
    expect(Object.getPrototypeOf(errors)).toBe(Object.prototype);
    expect(Object.keys(errors).sort()).toEqual(["__proto__", "capacity"]);
    expect(errors.capacity).toEqual(["Too small: expected number to be >=1"]);
  });
});
