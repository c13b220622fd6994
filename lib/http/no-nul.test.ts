import { describe, expect, it } from "vitest";

import { isValidationError } from "../errors";
import { fieldsWithNul, refuseNul, refuseNulInBody, withoutNulFields } from "./no-nul";

describe("NUL in request fields", () => {
  it("names every field holding a NUL, nested, in arrays and in keys", () => {
    expect(fieldsWithNul({ a: "x", b: "y\u0000", c: { d: ["ok", "n\u0000"] }, ["k\u0000"]: "v" })).toEqual(["b", "c.d.1", "k\ufffd"]);
    expect(fieldsWithNul("a\u0000")).toEqual(["(body)"]);
    expect(fieldsWithNul({ n: 1, t: true, z: null, e: "" })).toEqual([]);
  });

  it("refuses with VALIDATION_FAILED and the field's name, and passes anything else through", () => {
    const value = { title: "build vm", labels: ["a"] };
    expect(refuseNul(value)).toBe(value);
    let thrown: unknown;
    try {
      refuseNul({ title: "build\u0000vm" });
    } catch (e) {
      thrown = e;
    }
    expect(isValidationError(thrown)).toBe(true);
    expect((thrown as { fieldErrors: Record<string, string[]> }).fieldErrors).toEqual({
      title: ["must not contain a NUL character (\\u0000)"],
    });
  });

  it("stops naming fields after 20", () => {
    const many = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`f${i}`, "\u0000"]));
    expect(fieldsWithNul(many)).toHaveLength(20);
  });

  it("drops only the fields with a NUL from page filters", () => {
    expect(withoutNulFields({ q: "a\u0000", owner: "me", page: "2" })).toEqual({ owner: "me", page: "2" });
  });

  it("reads JSON and form bodies through a clone, leaving the request readable", async () => {
    const json = new Request("http://127.0.0.1/x", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "a\u0000@b" }),
    });
    await expect(refuseNulInBody(json)).rejects.toMatchObject({ code: "VALIDATION_FAILED", fieldErrors: { email: expect.any(Array) } });
    const form = new Request("http://127.0.0.1/x", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "email=a%00%40b",
    });
    await expect(refuseNulInBody(form)).rejects.toMatchObject({ fieldErrors: { email: expect.any(Array) } });
    // A field the handler cleans itself is let through; the others are still looked at.
    const named = (body: unknown) =>
      new Request("http://127.0.0.1/x", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    await refuseNulInBody(named({ name: "a\u0000b", email: "a@b" }), ["name"]);
    await expect(refuseNulInBody(named({ name: "a\u0000b", email: "a\u0000@b" }), ["name"])).rejects.toMatchObject({
      fieldErrors: { email: expect.any(Array) },
    });
    const fine = new Request("http://127.0.0.1/x", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"email":"a@b"}',
    });
    await refuseNulInBody(fine);
    expect(await fine.json()).toEqual({ email: "a@b" });
  });
});
